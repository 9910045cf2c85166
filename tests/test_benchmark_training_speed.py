import torch

from benchmarks.training_speed import lstm_flop_formulas
from emofuse.models.blocks.recurrent import run_lstm


def test_lstm_kernels_count_their_flops():
    from torch.utils.flop_counter import FlopCounterMode

    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    values = torch.randn(2, 5, 3, requires_grad=True)
    forward = 2 * 5 * 2 * (4 * 4) * (3 + 4)  # steps x batch x gates x (input + hidden), multiply-adds twice
    with FlopCounterMode(display=False, custom_mapping=lstm_flop_formulas()) as counter:
        output, _ = run_lstm(lstm, values, torch.tensor([5, 3]), packed=False)
    assert counter.get_total_flops() == 2 * forward  # two directions
    with FlopCounterMode(display=False, custom_mapping=lstm_flop_formulas()) as counter:
        output.sum().backward()
    assert counter.get_total_flops() == 2 * 2 * forward  # the backward pass: twice the forward


def test_bfloat16_is_timed_by_default_only_where_the_cpu_computes_it_natively():
    from benchmarks.training_speed import times_bf16

    assert times_bf16("auto", True) and not times_bf16("auto", False)
    assert times_bf16("auto", None)  # PyTorch cannot tell: timed, as before the option existed
    assert times_bf16("on", False) and not times_bf16("off", True)


def test_every_model_is_judged_against_the_best_peak_reading_of_the_run():
    from benchmarks.training_speed import judge_against_run_peak

    # read beside a model under load, the peak was low (200); the run's best reading is 400
    rows = [{"achieved_flops": 100.0, "peak_flops_beside": 200.0}, {"achieved_flops": 300.0, "peak_flops_beside": 400.0}]
    judge_against_run_peak(rows, {"matmul": 200.0, "conv2d": 400.0, "peak": 400.0})
    assert [r["fraction_of_peak"] for r in rows] == [0.25, 0.75]
    assert [r["fraction_of_matmul_peak"] for r in rows] == [0.5, 1.5]
