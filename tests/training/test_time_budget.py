"""The recipes' time budget (training/recipe.py): a run sized in steps ends in time, saved as usual."""

import time

from transformers import TrainerControl, TrainerState, TrainingArguments

from training.recipe import time_budget_callback


def _step(callback, control):
    return callback.on_step_end(TrainingArguments(output_dir="/tmp/unused", report_to=[]), TrainerState(), control)


def test_training_stops_after_the_step_that_passes_the_budget():
    callback, control = time_budget_callback(0.05), TrainerControl()
    callback.on_train_begin(None, TrainerState(), control)
    _step(callback, control)
    assert not control.should_training_stop
    time.sleep(0.06)
    _step(callback, control)
    assert control.should_training_stop


def test_a_zero_budget_never_stops_training():
    callback, control = time_budget_callback(0), TrainerControl()
    callback.on_train_begin(None, TrainerState(), control)
    time.sleep(0.01)
    _step(callback, control)
    assert not control.should_training_stop
