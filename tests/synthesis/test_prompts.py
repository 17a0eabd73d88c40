import numpy as np
import pytest

from radsynth.synthesis.prompts import INDEX, MAX_WORDS, VOCABULARY, check_terms, describe, prompt_words, subject_tokens, tokenize

BUSI = {"modality": ["ultrasound"], "organ": ["breast"], "pathology": ["lesion"], "pathology_pattern": "^(benign|malignant|normal)"}


def test_vocabulary_is_fixed_and_padding_is_zero():
    assert VOCABULARY[0] == "<pad>" and len(set(VOCABULARY)) == len(VOCABULARY)
    # Indices are part of every checkpoint: these must never move.
    assert INDEX["mri"] == 1 and INDEX["brain"] == 15


def test_pathology_comes_from_the_subject_name():
    assert prompt_words(BUSI, "malignant (12)") == ["ultrasound", "breast", "malignant"]
    assert prompt_words(BUSI, "case_7") == ["ultrasound", "breast", "lesion"]


def test_tokens_are_padded_and_readable():
    tokens = subject_tokens(BUSI, ["s0", "s1"], names={"s0": "benign (1)", "s1": "normal (3)"})
    assert tokens.shape == (2, MAX_WORDS) and tokens.dtype == np.int64
    assert describe(tokens[0]) == "ultrasound breast benign" and (tokens[:, 3:] == 0).all()


def test_unknown_words_are_named():
    with pytest.raises(ValueError, match="mammography"):
        check_terms({"modality": ["mammography"]})
    with pytest.raises(ValueError, match="has more than 8 words"):
        tokenize([["mri"] * (MAX_WORDS + 1)])
    check_terms(BUSI)
