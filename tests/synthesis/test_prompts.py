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


def test_pathology_comes_from_the_class_folder_of_a_generated_busi(tmp_path):
    """Class folders (benign/, malignant/) whose file names do not name the class."""
    import imageio.v3 as iio

    from radsynth.data import discover

    for group in ("benign", "malignant"):
        (tmp_path / group).mkdir()
        iio.imwrite(tmp_path / group / "img 1.png", np.full((4, 5), 10, np.uint8))
        iio.imwrite(tmp_path / group / "img 1_mask.png", np.zeros((4, 5), np.uint8))
    sources = discover({"kind": "image_pairs", "root": str(tmp_path), "channels": ["us"], "classes": [1],
                        "images": ".", "masks": ".", "mask_suffix": "_mask", "groups": True})
    tokens = subject_tokens(BUSI, [s.subject for s in sources], names={s.subject: s.name for s in sources})
    assert [describe(row) for row in tokens] == ["ultrasound breast benign", "ultrasound breast malignant"]
