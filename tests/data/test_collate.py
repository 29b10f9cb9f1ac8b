"""TextMelCollate / Batch: padding to a multiple of r, gate targets, masks, clear errors."""

from __future__ import annotations

import pytest
import torch

from tacotron.data.batch import Batch, Utterance
from tacotron.data.collate import TextMelCollate


def _utt(uid: str, n_text: int, n_frames: int, n_mels: int = 8) -> Utterance:
    gen = torch.Generator().manual_seed(n_text * 1000 + n_frames)
    ids = torch.randint(2, 30, (n_text,), generator=gen)
    return Utterance(uid, ids, torch.randn(n_mels, n_frames, generator=gen))


@pytest.mark.parametrize("r", [1, 2, 3, 5, 8])
def test_pads_mels_to_multiple_of_r(r):
    items = [_utt("a", 5, 431), _utt("b", 9, 17), _utt("c", 7, 100)]
    batch = TextMelCollate(r)(items)
    expected_t = -(-431 // r) * r
    assert batch.mels.shape == (3, 8, expected_t)
    assert batch.mels.size(2) % r == 0
    assert batch.gate_target.shape == (3, expected_t)
    assert batch.r == r


def test_seed_case_431_frames_r2_pads_to_432():
    items = [_utt(str(i), 10 + i % 7, 431 if i == 3 else 200 + i, n_mels=80) for i in range(32)]
    batch = TextMelCollate(2)(items)
    assert batch.mels.shape == (32, 80, 432)
    assert batch.mel_mask.sum().item() == int(batch.mel_lengths.sum())


def test_sorted_by_text_length_and_content_preserved():
    items = [_utt("short", 3, 10), _utt("long", 12, 5), _utt("mid", 7, 20)]
    batch = TextMelCollate(2)(items)
    assert batch.ids == ["long", "mid", "short"]
    assert batch.text_lengths.tolist() == [12, 7, 3]
    assert batch.mel_lengths.tolist() == [5, 20, 10]
    assert batch.text.shape == (3, 12)
    assert torch.equal(batch.text[2, :3], items[0].text_ids)
    assert (batch.text[2, 3:] == 0).all()
    assert torch.equal(batch.mels[1, :, :20], items[2].mel)
    assert (batch.mels[0, :, 5:] == 0).all()


def test_gate_target_is_one_from_last_real_frame():
    batch = TextMelCollate(3)([_utt("a", 4, 7), _utt("b", 3, 4)])
    assert batch.mels.size(2) == 9
    assert batch.gate_target[0].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert batch.gate_target[1].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]


def test_masks_mark_real_positions():
    batch = TextMelCollate(2)([_utt("a", 4, 7), _utt("b", 2, 3)])
    assert batch.text_mask.tolist() == [[True] * 4, [True, True, False, False]]
    assert batch.mel_mask.sum(1).tolist() == [7, 3]
    assert batch.mel_mask.shape == (2, 8)
    assert batch.size == 2


def test_to_returns_batch_on_device():
    batch = TextMelCollate(2)([_utt("a", 4, 7)])
    moved = batch.to("cpu", non_blocking=True)
    assert isinstance(moved, Batch)
    assert moved.ids == ["a"] and moved.r == 2
    assert torch.equal(moved.mels, batch.mels)


def test_dataloader_uses_collate_and_pin_memory_method_exists():
    items = [_utt(str(i), 3 + i, 10 + 3 * i) for i in range(6)]
    loader = torch.utils.data.DataLoader(items, batch_size=3, collate_fn=TextMelCollate(5))
    batches = list(loader)
    assert [b.mels.size(2) for b in batches] == [20, 25]
    assert callable(batches[0].pin_memory)
    if torch.cuda.is_available():
        pinned = batches[0].pin_memory()
        assert pinned.mels.is_pinned() and pinned.text.is_pinned()


def test_select_makes_a_micro_batch_trimmed_to_its_own_length():
    batch = TextMelCollate(3)([_utt("a", 9, 20), _utt("b", 5, 7), _utt("c", 2, 4)])
    sub = batch.select([1, 2])
    assert sub.ids == ["b", "c"]
    assert sub.text.shape == (2, 5)
    assert sub.mels.shape == (2, 8, 9)
    assert torch.equal(sub.gate_target, TextMelCollate(3)([_utt("b", 5, 7), _utt("c", 2, 4)]).gate_target)


@pytest.mark.parametrize("r", [0, 9, 2.0])
def test_bad_reduction_factor_raises(r):
    with pytest.raises(ValueError, match="reduction factor"):
        TextMelCollate(r)


def test_mismatched_n_mels_names_items_and_shapes():
    with pytest.raises(ValueError, match=r"'b'.*\(6, 5\).*\(8, 4\).*n_mels"):
        TextMelCollate(2)([_utt("a", 3, 4), _utt("b", 3, 5, n_mels=6)])


def test_bad_text_and_mel_shapes_raise():
    with pytest.raises(ValueError, match=r"text_ids.*\(2, 3\)"):
        TextMelCollate(2)([Utterance("x", torch.ones(2, 3, dtype=torch.long), torch.zeros(8, 4))])
    with pytest.raises(ValueError, match=r"mel must be \[n_mels, T\].*\(8,\)"):
        TextMelCollate(2)([Utterance("x", torch.ones(3, dtype=torch.long), torch.zeros(8))])
    with pytest.raises(ValueError, match="empty"):
        TextMelCollate(2)([])
