"""The tokenizer: jieba's dictionary and the community's own words, loaded once at
start-up in a compact form, segmenting exactly as jieba does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nlp import initialise, tokenizer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def reference() -> Any:
    """jieba itself with the same dictionaries, to compare with."""
    return tokenizer.jieba_tokenizer()


def test_initialise_is_idempotent_and_keeps_one_dictionary() -> None:
    initialise()
    first = tokenizer.dictionary()
    initialise()
    assert tokenizer.dictionary() is first


def test_the_dictionary_holds_jiebas_counts_and_the_user_dictionarys(reference: Any) -> None:
    freq = reference.FREQ
    for word in ["的", "路灯", "南京市", "长江大桥", "楼栋长", "四点钟学校", "空巢老人"]:
        assert freq[word] > 0
        assert tokenizer.word_freq(word) == freq[word]
    assert tokenizer.word_freq("楼栋长") == 2000  # nlp/data/userdict.txt
    assert tokenizer.word_freq("南京市长") == freq.get("南京市长", 0) == 0  # only the start of longer words
    assert tokenizer.word_freq("路灯坏了没人修") == 0
    assert tokenizer.word_freq("") == 0
    assert tokenizer.dictionary().total == reference.total


@pytest.mark.parametrize("word", ["楼栋长", "四点钟学校", "空巢老人", "老旧小区", "消防通道", "电动车", "化粪池",
                                  "路灯", "楼道灯", "物业费", "门禁卡", "加装电梯"])
def test_community_words_stay_whole(word: str) -> None:
    assert word in tokenizer.cut(f"关于{word}的事情")


def test_blocks_are_split_with_jiebas_own_patterns(reference: Any) -> None:
    jieba = sys.modules["jieba"]
    assert (tokenizer._RE_HAN.pattern, tokenizer._RE_HAN.flags) == (jieba.re_han_default.pattern,
                                                                    jieba.re_han_default.flags)
    assert (tokenizer._RE_SKIP.pattern, tokenizer._RE_SKIP.flags) == (jieba.re_skip_default.pattern,
                                                                      jieba.re_skip_default.flags)


def test_serving_never_imports_jieba_once_the_dictionary_is_kept() -> None:
    initialise()  # builds and keeps the dictionary if this machine has none yet
    code = (
        "import sys, nlp\n"
        "nlp.initialise()\n"
        "assert nlp.TextAnalyser().analyse('3栋楼道灯坏了').category == 'facilities'\n"
        "print('jieba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_dictionary_cache_lives_in_a_writable_cache_dir() -> None:
    initialise()
    assert tokenizer.cache_path().is_file()


def test_a_changed_user_dictionary_is_a_new_cache_and_a_broken_cache_is_rebuilt(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch
                                                                                  ) -> None:
    user = tmp_path / "userdict.txt"
    user.write_text("楼栋长 2000 n\n", encoding="utf-8")
    monkeypatch.setattr(tokenizer, "USERDICT", user)
    monkeypatch.setenv("LIANXIN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tokenizer, "_dictionary", None)
    tokenizer.initialise()
    first = tokenizer.cache_path()
    assert first.is_file() and tokenizer.word_freq("门禁卡坏") == 0
    user.write_text("楼栋长 2000 n\n门禁卡坏 5 n\n", encoding="utf-8")
    monkeypatch.setattr(tokenizer, "_dictionary", None)
    tokenizer.initialise()
    assert tokenizer.word_freq("门禁卡坏") == 5
    assert tokenizer.cache_path() != first and not first.exists()  # the old one is dropped
    tokenizer.cache_path().write_bytes(b"not marshal")
    monkeypatch.setattr(tokenizer, "_dictionary", None)
    tokenizer.initialise()
    assert tokenizer.word_freq("门禁卡坏") == 5


def test_in_a_fresh_process_everything_is_loaded_by_initialise_and_jiebas_global_is_untouched() -> None:
    code = (
        "import jieba, nlp\n"
        "from nlp import sounds, tokenizer\n"
        "assert tokenizer._dictionary is None and sounds._table is None\n"
        "nlp.initialise()\n"
        "assert tokenizer._dictionary is not None and sounds._table is not None\n"
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
def test_cut_is_jiebas_precise_mode_without_hmm(text: str, reference: Any) -> None:
    assert tokenizer.cut(text) == reference.lcut(text, HMM=False)
    assert tokenizer.cut(text.encode()) == reference.lcut(text.encode(), HMM=False)


def test_cut_is_jiebas_precise_mode_without_hmm_on_the_corpus(reference: Any) -> None:
    tk = reference
    texts = _corpus_texts()
    assert len(texts) > 1000
    differ = [t for t in texts if tokenizer.cut(t) != tk.lcut(t, HMM=False)]
    assert differ == []
