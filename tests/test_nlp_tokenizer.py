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


def _corpus_texts() -> list[str]:
    import json

    texts = []
    for path in sorted((ROOT / "nlp" / "corpus").glob("*.jsonl")) + sorted((ROOT / "tests" / "data").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip() and isinstance(json.loads(line).get("text"), str):
                texts.append(json.loads(line)["text"])
    return texts


@pytest.mark.parametrize("text", [
    "", " ", "\r\n", "abc", "a b  c", "3栋2单元501", "ABC123楼道灯", "wifi密码是多少？", "C++和c#", "10.5%的人",
    "\u3000你好\t世界\n", "😀😀谢谢", "——…～~", "王奶奶家的暖器不热了", "非常感谢非常感谢", "a-b_c.d&e%f",
    "一二三四五六七八九十百千万", "楼楼楼楼楼楼", "结婚的和尚未结婚的", "南京市长江大桥",
])
def test_cut_is_jiebas_precise_mode_without_hmm(text: str) -> None:
    assert tokenizer.cut(text) == tokenizer.tokenizer().lcut(text, HMM=False)


def test_cut_is_jiebas_precise_mode_without_hmm_on_the_corpus() -> None:
    tk = tokenizer.tokenizer()
    texts = _corpus_texts()
    assert len(texts) > 1000
    differ = [t for t in texts if tokenizer.cut(t) != tk.lcut(t, HMM=False)]
    assert differ == []
