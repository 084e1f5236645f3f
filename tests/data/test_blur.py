"""Eq. 2 blur synthesis, camera responses and the 7 targets of long windows."""

import numpy as np
import pytest

from cbl_jax.data import blur


def test_linear_is_the_rounded_mean_by_hand():
  # Two frames, one pixel each channel: means 1.5, 2.0 and 254.5. Round half
  # up gives 2, 2, 255 (np.round would give 2, 2, 254).
  frames = np.array([[[[1, 2, 254]]], [[[2, 2, 255]]]], np.uint8)
  assert blur.synthesize_blur(frames, 'linear').tolist() == [[[2, 2, 255]]]
  # Seven frames: (0+0+0+0+0+0+3)/7 = 0.43 -> 0; (10*6+14)/7 = 10.57 -> 11.
  frames = np.zeros((7, 1, 1, 3), np.uint8)
  frames[6, 0, 0] = (3, 14, 255)
  frames[:, 0, 0, 1] += np.array([10, 10, 10, 10, 10, 10, 0], np.uint8)
  assert blur.synthesize_blur(frames).tolist() == [[[0, 11, 36]]]


def test_gamma_by_hand():
  frames = np.array([[[[0, 255, 100]]], [[[255, 255, 200]]]], np.uint8)
  signal = ((np.array([[0, 255, 100], [255, 255, 200]]) / 255.0) ** 2.2).mean(0)
  expected = np.floor(255.0 * signal ** (1 / 2.2) + 0.5)
  got = blur.synthesize_blur(frames, 'gamma')[0, 0]
  assert got.tolist() == expected.tolist() == [186, 255, 160]


def test_one_frame_is_returned_unchanged_by_every_response():
  frame = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, -1)
  for response in ('linear', 'gamma'):
    assert np.array_equal(blur.synthesize_blur(frame, response), frame[0])


@pytest.mark.parametrize('suffix', ['.npy', '.csv', '.txt'])
def test_table_from_file_matches_builtin(tmp_path, suffix):
  table = (np.arange(256) / 255.0) ** 2.2
  path = tmp_path / f'g_inverse{suffix}'
  if suffix == '.npy':
    np.save(path, table)
  elif suffix == '.csv':
    path.write_text('# g^-1 per code\n' + ','.join(f'{v:.17g}' for v in table))
  else:
    path.write_text('\n'.join(f'{v:.17g}' for v in table))
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, (7, 8, 8, 3), dtype=np.uint8)
  from_file = blur.synthesize_blur(frames, str(path))
  builtin = blur.synthesize_blur(frames, 'gamma')
  # g from the table is piecewise linear between codes: within one level.
  assert np.abs(from_file.astype(int) - builtin).max() <= 1
  # A linear table reproduces the linear response exactly.
  linear = tmp_path / 'linear.npy'
  np.save(linear, np.arange(256) * 3.0 + 1.0)
  assert np.array_equal(blur.synthesize_blur(frames, str(linear)),
                        blur.synthesize_blur(frames, 'linear'))


def test_bad_responses_have_clear_messages(tmp_path):
  with pytest.raises(ValueError, match="Unknown camera response 'sRGB'"):
    blur.get_response('sRGB')
  with pytest.raises(ValueError, match='does not exist'):
    blur.get_response(str(tmp_path / 'missing.npy'))
  short = tmp_path / 'short.npy'
  np.save(short, np.arange(10.0))
  with pytest.raises(ValueError, match='has 10 values; it needs 256'):
    blur.get_response(str(short))
  flat = tmp_path / 'flat.csv'
  flat.write_text(','.join(['1'] * 256))
  with pytest.raises(ValueError, match='not strictly increasing'):
    blur.get_response(str(flat))


def test_frames_must_be_uint8_stacks():
  with pytest.raises(ValueError, match='uint8'):
    blur.synthesize_blur(np.zeros((7, 2, 2, 3), np.float32))
  with pytest.raises(ValueError, match='shape'):
    blur.synthesize_blur(np.zeros((2, 2, 3), np.uint8))


@pytest.mark.parametrize('num_frames,sizes', [
    (7, [1, 1, 1, 1, 1, 1, 1]),
    (11, [2, 1, 2, 1, 2, 1, 2]),
    (13, [2, 2, 2, 1, 2, 2, 2]),
    (14, [2, 2, 2, 2, 2, 2, 2]),
    (9, [1, 2, 1, 1, 1, 2, 1]),
])
def test_group_bounds(num_frames, sizes):
  bounds = blur.group_bounds(num_frames)
  assert [stop - start for start, stop in bounds] == sizes
  assert bounds[0][0] == 0 and bounds[-1][1] == num_frames
  assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
  # Symmetric under time reversal.
  mirrored = [(num_frames - stop, num_frames - start)
              for start, stop in reversed(bounds)]
  assert mirrored == bounds


def test_group_bounds_needs_seven_frames():
  with pytest.raises(ValueError, match='Cannot split 6 frames into 7'):
    blur.group_bounds(6)


def test_sub_averages_by_hand():
  frames = np.arange(11, dtype=np.uint8)[:, None, None, None].repeat(3, -1)
  targets = blur.sub_averages(frames)  # groups 0-1, 2, 3-4, 5, 6-7, 8, 9-10
  # Means 0.5, 2, 3.5, 5, 6.5, 8, 9.5, rounded half up.
  assert targets[:, 0, 0, 0].tolist() == [1, 2, 4, 5, 7, 8, 10]
  seven = np.random.default_rng(1).integers(0, 256, (7, 4, 4, 3), np.uint8)
  assert np.array_equal(blur.sub_averages(seven, 'gamma'), seven)


def test_reversed_window_gives_reversed_targets_and_same_blur():
  frames = np.random.default_rng(2).integers(0, 256, (13, 5, 5, 3), np.uint8)
  blurry, targets = blur.blur_and_targets(frames, 'gamma')
  blurry_r, targets_r = blur.blur_and_targets(frames[::-1], 'gamma')
  assert np.array_equal(blurry, blurry_r)
  assert np.array_equal(targets[::-1], targets_r)


def test_non_overlapping_windows():
  assert blur.non_overlapping_windows(16, 7) == [(0, 7), (7, 14)]
  assert blur.non_overlapping_windows(6, 7) == []
  with pytest.raises(ValueError):
    blur.non_overlapping_windows(10, 0)
