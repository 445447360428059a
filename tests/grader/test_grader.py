"""The grader, tested both ways: every right implementation passes, every catalogued mistake is caught and
named, a wrong implementation the catalogue does not know fails without a diagnosis, and the reader's own
errors are reported as messages."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from bncourse.course import grader
from bncourse.course.grader.cases import smaller_shapes
from bncourse.course.grader.exercise import MistakeModel
from bncourse.course.grader.outcome import as_outputs
from bncourse.course.grader.run import attempt, quiet
from tests.grader import students


def _id(fn: Any) -> str:
    return getattr(fn, "__name__", "student")


@pytest.mark.parametrize(
    ("exercise", "fn"), [(name, fn) for name, fns in students.CORRECT.items() for fn in fns], ids=lambda v: _id(v) if callable(v) else v
)
def test_every_correct_variant_passes(exercise: str, fn: Any) -> None:
    report = grader.check(exercise, fn)
    assert report.passed, str(report)
    assert str(report).startswith(f"✓ {exercise}: passed all {report.total} cases")


def test_every_exercise_has_a_correct_variant_and_the_reference_passes() -> None:
    assert set(students.CORRECT) == set(grader.EXERCISES)
    for name, exercise in grader.EXERCISES.items():
        assert grader.check(name, exercise.reference).passed


@pytest.mark.parametrize(("exercise", "mistake", "fn"), students.MISTAKEN, ids=[f"{e}-{m}" for e, m, _ in students.MISTAKEN])
def test_every_mistake_is_caught_and_diagnosed_by_name(exercise: str, mistake: str, fn: Any) -> None:
    report = grader.check(exercise, fn)
    assert not report.passed
    assert report.diagnosis == mistake, str(report)
    text = str(report)
    assert f"Diagnosis ({mistake}): {grader.MISTAKES[mistake].advice}" in text
    # The shown case is the failing one: the reader's function, called on its arguments, returns what is shown.
    assert report.arguments is not None and report.expected is not None
    with quiet():
        again = as_outputs(fn(*copy.deepcopy(report.arguments).values()), len(report.expected))
    for shown, recomputed in zip(as_outputs(report.received, len(report.expected)) or (), again or ()):
        np.testing.assert_array_equal(shown, recomputed)


def test_the_catalogue_has_at_least_ten_mistakes_each_tested() -> None:
    tested = {mistake for _, mistake, _ in students.MISTAKEN}
    assert len(grader.MISTAKES) >= 10
    assert tested == set(grader.MISTAKES)


def test_every_model_is_tested_in_its_exercise() -> None:
    """Each (exercise, mistake) the grader can recognize has a student who makes it."""
    tested = {(exercise, mistake) for exercise, mistake, _ in students.MISTAKEN}
    for name, exercise in grader.EXERCISES.items():
        for model in exercise.models:
            assert (name, model.mistake) in tested, (name, model.mistake)


@pytest.mark.parametrize(("exercise", "fn"), students.UNCATALOGUED, ids=[e for e, _ in students.UNCATALOGUED])
def test_a_wrong_implementation_outside_the_catalogue_fails_without_diagnosis(exercise: str, fn: Any) -> None:
    report = grader.check(exercise, fn)
    assert not report.passed
    assert report.diagnosis is None
    assert "No mistake in the catalogue matches" in str(report)
    assert report.diagnosis is None


def test_a_new_wrong_implementation_fails_even_if_only_slightly_wrong() -> None:
    def slightly_wrong(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
        return students.train_two_pass(x, gamma * (1 + 1e-5), beta, eps, axis)

    report = grader.check("batch_norm_train", slightly_wrong)
    assert not report.passed and report.diagnosis is None
    assert report.case is not None and report.case.dtype == "float64"  # 1e-5 is inside float32's tolerance


def _student(returns: Any) -> Any:
    def student(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
        return returns(x, gamma, beta, eps, axis)

    return student


def _raises(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
    raise NotImplementedError("write me")


def _changes_x(x: Any, gamma: Any, beta: Any, eps: float, axis: int) -> Any:
    x -= x.mean()
    return students.train_two_pass(x, gamma, beta, eps, axis)


@pytest.mark.parametrize(
    ("fn", "kind", "message"),
    [
        (_student(lambda *a: None), "returned", "y is None; expected a NumPy array of shape (2, 1) and dtype float64"),
        (_raises, "exception", "your function raised NotImplementedError: write me (in _raises, line"),
        (_student(lambda x, *a: students.train_two_pass(x, *a)[0]), "shape", "y has shape (1,); expected (2, 1)"),
        (_student(lambda x, *a: students.train_two_pass(x.astype(np.float64), *a)), "dtype", "y has dtype float64; expected float32"),
        (_student(lambda x, g, b, e, a: students.train_two_pass(x, g, b, -1.0, a)), "nonfinite", "NaN or infinite"),
        (_changes_x, "mutated", "your function changed its argument x in place"),
        (_student(lambda *a: [students.train_two_pass(*a)]), "returned", "your function returned a list of 1; expected one array"),
        (_student(lambda *a: students.train_two_pass(*a).tolist()), "returned", "your function returned a list of 2; expected one array"),
    ],
    ids=["none", "exception", "shape", "dtype", "nan", "mutation", "list-of-one", "list"],
)
def test_errors_in_the_readers_function_are_reported_as_messages(fn: Any, kind: str, message: str) -> None:
    report = grader.check("batch_norm_train", fn)
    assert report.failure is not None and report.failure.kind == kind
    assert message in str(report), str(report)
    assert "Traceback" not in str(report) and "grader" not in report.failure.message


def test_a_backward_that_returns_too_few_outputs_is_told_what_to_return() -> None:
    report = grader.check("batch_norm_backward", lambda dy, x, gamma, eps, axis: students.backward_compact(dy, x, gamma, eps, axis)[0])
    assert report.failure is not None and report.failure.kind == "returned"
    assert "expected a tuple of 3 arrays (dx, dgamma, dbeta)" in str(report)


@pytest.mark.parametrize(("exercise", "mistake", "fn"), students.MISTAKEN[::5], ids=[f"{e}-{m}" for e, m, _ in students.MISTAKEN[::5]])
def test_a_failure_is_shrunk_until_no_smaller_shape_fails_the_same_way(exercise: str, mistake: str, fn: Any) -> None:
    report = grader.check(exercise, fn)
    ex = grader.EXERCISES[exercise]
    assert report.case is not None and report.failure is not None
    for shape in smaller_shapes(report.case):
        smaller = replace(report.case, shape=shape)
        if ex.valid(smaller):
            failure = attempt(ex, fn, smaller).failure
            assert failure is None or failure.kind != report.failure.kind, shape


def test_the_side_by_side_rows_are_the_cases_values() -> None:
    report = grader.check("batch_norm_train", students.train_unbiased)
    assert report.failure is not None and report.failure.rows and report.expected is not None
    for label, want, got in report.failure.rows:
        index = tuple(int(i) for i in label[label.index("[") + 1 : -1].split(","))
        assert want == float(report.expected[0][index]) and got == float(report.received[index])
        assert f"{want:.6g}" in str(report) and f"{got:.6g}" in str(report)


def test_reports_are_deterministic() -> None:
    assert str(grader.check("batch_norm_backward", students.backward_no_gamma)) == str(grader.check("batch_norm_backward", students.backward_no_gamma))


def test_the_cases_cover_the_edge_cases() -> None:
    """Every batch-statistics exercise meets ranks 2–5, channels-last, m = 2, one channel, float32 far from zero
    and a variance below ε; the layer in training mode."""
    for name in ["batch_norm_train", "batch_norm_inference", "batch_norm_backward", "running_update_torch", "running_update_keras", "population_statistics"]:
        cases = grader.EXERCISES[name].cases
        assert {len(case.shape) for case in cases} == {2, 3, 4, 5}, name
        assert any(case.axis == -1 and len(case.shape) > 2 for case in cases), name
        assert any(case.values_per_channel == 2 for case in cases), name
        assert any(case.num_channels == 1 for case in cases), name
        assert any(case.dtype == "float32" and abs(case.loc) >= 100 * case.scale for case in cases), name
        assert any(case.scale**2 < case.eps for case in cases), name
    assert any(case.values_per_channel == 1 for case in grader.EXERCISES["batch_norm_inference"].cases)
    training = [case for case in grader.EXERCISES["batch_norm_layer"].cases if case.option("training")]
    assert {len(case.shape) for case in training} == {2, 3, 4, 5}
    assert any(case.values_per_channel == 2 for case in training) and any(case.num_channels == 1 for case in training)
    assert any(case.dtype == "float32" and abs(case.loc) >= 100 * case.scale for case in training)
    assert any(case.scale**2 < case.eps for case in training)
    for name in ["layer_norm", "group_norm", "fold_batch_norm"]:
        cases = grader.EXERCISES[name].cases
        assert {len(case.shape) for case in cases} == {2, 3, 4, 5}, name
        assert any(case.dtype == "float32" for case in cases) and any(case.scale**2 < case.eps for case in cases), name
    assert any(case.dtype == "float32" and case.loc >= 100 for case in grader.EXERCISES["layer_norm"].cases)


def test_keras_far_from_zero_case_weighs_the_batch() -> None:
    """A one-pass float32 variance must show in the moving variance: the far-from-zero case's momentum is small."""
    cases = grader.EXERCISES["running_update_keras"].cases
    assert all(case.option("momentum") <= 0.9 for case in cases if abs(case.loc) >= 100 * case.scale)


def test_one_pass_float32_variance_is_caught_wherever_a_variance_is_computed() -> None:
    def one_pass(x: Any, axes: Any) -> Any:
        mean = x.mean(axis=axes)
        return mean, (x * x).mean(axis=axes) - mean * mean

    def torch_update(running_mean: Any, running_var: Any, x: Any, momentum: float, axis: int) -> Any:
        m = x.size // x.shape[axis]
        mean, var = one_pass(x, students._axes(x, axis))
        return (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var * (m / (m - 1))

    def keras_update(moving_mean: Any, moving_variance: Any, x: Any, momentum: float, axis: int) -> Any:
        mean, var = one_pass(x, students._axes(x, axis))
        return momentum * moving_mean + (1 - momentum) * mean, momentum * moving_variance + (1 - momentum) * var

    def layer(x: Any, gamma: Any, beta: Any, running_mean: Any, running_var: Any, momentum: float, eps: float, training: bool) -> Any:
        if not training:
            return students.layer(x, gamma, beta, running_mean, running_var, momentum, eps, training)
        mean, var = one_pass(x, students._axes(x, 1))
        col = (1, -1) + (1,) * (x.ndim - 2)
        y = gamma.reshape(col) * (x - mean.reshape(col)) / np.sqrt(np.maximum(var, 0).reshape(col) + eps) + beta.reshape(col)
        m = x.size // x.shape[1]
        return y, (1 - momentum) * running_mean + momentum * mean, (1 - momentum) * running_var + momentum * var * (m / (m - 1))

    for name, fn in [("running_update_torch", torch_update), ("running_update_keras", keras_update), ("batch_norm_layer", layer)]:
        report = grader.check(name, fn)
        assert not report.passed and report.diagnosis == "float32-cancellation", (name, str(report))


def test_check_refuses_what_is_not_an_exercise_or_a_function() -> None:
    with pytest.raises(ValueError, match=r"name must be one of the exercises \[.*'batch_norm_train'.*\], got 'batchnorm'"):
        grader.check("batchnorm", students.train_two_pass)
    with pytest.raises(TypeError, match="name must be an exercise's name"):
        grader.check(students.train_two_pass, "batch_norm_train")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="fn must be your function"):
        grader.check("batch_norm_train", None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="mistake must be a name in the catalogue"):
        MistakeModel("no-such-mistake", students.train_two_pass)


def test_signature_and_report_texts() -> None:
    assert grader.signature("batch_norm_train") == "batch_norm_train(x, gamma, beta, eps, axis) -> y"
    passed = grader.check("fold_batch_norm", students.fold_right)
    assert repr(passed) == "<Report fold_batch_norm: passed>"
    failed = grader.check("fold_batch_norm", students.fold_bias_ignored)
    assert repr(failed) == "<Report fold_batch_norm: failed (layer-bias-ignored)>"
    assert "axis=" not in str(failed) and "eps=" in str(failed)
