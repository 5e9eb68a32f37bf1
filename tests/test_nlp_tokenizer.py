"""The tokenizer: jieba loaded once at start-up, with the community's own words."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import jieba
import pytest

from nlp import initialise, tokenizer

ROOT = Path(__file__).resolve().parent.parent


def test_initialise_is_idempotent_and_keeps_one_tokenizer() -> None:
    initialise()
    first = tokenizer.tokenizer()
    initialise()
    assert tokenizer.tokenizer() is first


def test_the_router_has_its_own_jieba_not_the_global_one() -> None:
    initialise()
    assert tokenizer.tokenizer() is not jieba.dt


@pytest.mark.parametrize("word", ["楼栋长", "四点钟学校", "空巢老人", "老旧小区", "消防通道", "电动车", "化粪池",
                                  "路灯", "楼道灯", "物业费", "门禁卡", "加装电梯"])
def test_community_words_stay_whole(word: str) -> None:
    assert word in tokenizer.cut(f"关于{word}的事情")


def test_the_dictionary_cache_lives_in_a_writable_cache_dir() -> None:
    initialise()
    tk = tokenizer.tokenizer()
    assert (Path(tk.tmp_dir) / tk.cache_file).is_file()


def test_in_a_fresh_process_everything_is_loaded_by_initialise_and_jiebas_global_is_untouched() -> None:
    code = (
        "import jieba, nlp\n"
        "from nlp import sounds, tokenizer\n"
        "assert tokenizer._tokenizer is None and sounds._table is None\n"
        "nlp.initialise()\n"
        "assert tokenizer._tokenizer is not None and sounds._table is not None\n"
        "router = nlp.TextAnalyser()\n"
        "assert router.analyse('3栋楼道灯坏了').category == 'facilities'\n"
        "print(jieba.dt.initialized)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"  # jieba's global tokenizer was never loaded
