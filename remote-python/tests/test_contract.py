"""The static LEMUR contract check: precise, line-numbered verdicts on untrusted source, and no code ever runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archloop.evaluation.contract import (
    MAX_SOURCE_CHARS,
    OUTCOME_CONTRACT_ERROR,
    OUTCOME_OK,
    OUTCOME_SYNTAX_ERROR,
    ContractReport,
    check_source,
    hyperparameter_defaults,
)

VALID = textwrap.dedent(
    """\
    import torch
    import torch.nn as nn


    def supported_hyperparameters():
        return {'lr', 'momentum', 'dropout'}


    class Net(nn.Module):
        def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:
            super().__init__()
            self.device = device
            self.prm = prm
            self.drop = nn.Dropout(prm['dropout'])
            self.fc = nn.Linear(in_shape[1], out_shape[0])

        def forward(self, x, unused_flag=False):
            return self.fc(self.drop(x.mean((2, 3))))

        def train_setup(self, prm):
            self.to(self.device)
            self.criteria = nn.CrossEntropyLoss()
            self.optimizer = torch.optim.SGD(self.parameters(), lr=self.prm['lr'], momentum=prm.get('momentum', 0.9))

        def learn(self, train_data):
            for inputs, labels in train_data:
                self.optimizer.zero_grad()
                self.criteria(self(inputs), labels).backward()
                self.optimizer.step()
    """
)


def kinds(report: ContractReport) -> list[str]:
    return [problem.kind for problem in report.problems]


def line_of(source: str, needle: str) -> int:
    return next(number for number, text in enumerate(source.splitlines(), start=1) if needle in text)


def test_a_contract_conforming_net_is_ok_and_reports_its_hyperparameters():
    report = check_source(VALID)
    assert report.ok and report.outcome == OUTCOME_OK
    assert report.message is None and report.line is None and report.problems == ()
    assert report.hyperparameters == frozenset({"lr", "momentum", "dropout"})


def test_syntax_error_is_classified_with_its_line():
    source = VALID.replace("def forward(self, x, unused_flag=False):", "def forward(self, x:")
    report = check_source(source)
    assert report.outcome == OUTCOME_SYNTAX_ERROR and not report.ok
    assert kinds(report) == ["syntax"]
    assert report.line == line_of(source, "def forward(self, x:")
    assert report.message.startswith(f"line {report.line}: syntax error")


@pytest.mark.parametrize(
    "source",
    ["x = 1\0", "x = " + "-" * 100_000 + "1", "x = " + "(" * 500 + ")" * 500, "\ufeff\udcff"],
    ids=["nul-byte", "deep-unary", "deep-parens", "lone-surrogate"],
)
def test_unparseable_source_is_a_syntax_error_not_a_crash(source: str):
    report = check_source(source)
    assert report.outcome == OUTCOME_SYNTAX_ERROR
    assert report.message


def test_oversized_source_is_refused_before_parsing():
    report = check_source("#" * (MAX_SOURCE_CHARS + 1))
    assert report.outcome == OUTCOME_CONTRACT_ERROR and kinds(report) == ["too_large"]


def test_wrong_init_signature_names_expected_and_found_parameters():
    source = VALID.replace(
        "def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:",
        "def __init__(self, in_shape, prm):",
    ).replace("self.device = device", "self.device = 'cpu'")
    report = check_source(source)
    line = line_of(source, "def __init__(self, in_shape, prm):")
    assert report.outcome == OUTCOME_CONTRACT_ERROR
    assert kinds(report) == ["wrong_signature"]
    assert report.problems[0].message == (
        f"line {line}: Net.__init__ must take (self, in_shape, out_shape, prm, device), found (self, in_shape, prm)"
    )
    assert report.line == line


@pytest.mark.parametrize(
    ("old", "new", "expected_kind"),
    [
        ("def learn(self, train_data):", "def learn(self):", "wrong_signature"),
        ("def train_setup(self, prm):", "def train_setup(self, prm, extra):", "wrong_signature"),
        ("def learn(self, train_data):", "async def learn(self, train_data):", "wrong_signature"),
        ("def learn(self, train_data):", "def fit(self, train_data):", "missing_method"),
        ("def forward(self, x, unused_flag=False):", "def predict(self, x):", "missing_method"),
        ("class Net(nn.Module):", "class Net(object):", "wrong_base"),
        ("class Net(nn.Module):", "class Model(nn.Module):", "missing_net"),
        ("import torch\n", "import torch\nimport subprocess\n", "forbidden_import"),
        ("import torch\n", "import torch\nfrom socket import socket\n", "forbidden_import"),
    ],
)
def test_structural_violations_are_each_classified(old: str, new: str, expected_kind: str):
    source = VALID.replace(old, new)
    assert source != VALID
    report = check_source(source)
    assert report.outcome == OUTCOME_CONTRACT_ERROR
    assert expected_kind in kinds(report), report.message
    problem = next(p for p in report.problems if p.kind == expected_kind)
    if problem.line is not None:
        assert problem.message.startswith(f"line {problem.line}: ")


def test_methods_inherited_from_a_module_level_base_class_count():
    source = VALID.replace("class Net(nn.Module):", "class Base(nn.Module):") + textwrap.dedent(
        """

        class Net(Base):
            pass
        """
    )
    assert check_source(source).ok


@pytest.mark.parametrize(
    ("declaration", "expected_kind"),
    [
        ("return set(NAMES)", "not_a_set"),
        ("return {'lr', 'momentum', 'dropout', 3}", "not_a_set"),
        ("return {'lr': 0.01, 1: 'momentum', 'dropout': 0.2}", "not_a_set"),
    ],
)
def test_supported_hyperparameters_must_be_a_literal_collection_of_names(declaration: str, expected_kind: str):
    source = VALID.replace("return {'lr', 'momentum', 'dropout'}", declaration)
    report = check_source(source)
    assert expected_kind in kinds(report)
    assert report.line == line_of(source, declaration)


@pytest.mark.parametrize(
    "declaration",
    [
        "return ['lr', 'momentum', 'dropout']",
        "return ('lr', 'momentum', 'dropout')",
        "return {'lr': 0.01, 'momentum': 0.9, 'dropout': 0.2}",
        "return {'dropout'}",  # lr and momentum are supplied by the trainer whether declared or not
    ],
)
def test_any_literal_collection_lemurs_trainer_can_iterate_is_a_declaration(declaration: str):
    report = check_source(VALID.replace("return {'lr', 'momentum', 'dropout'}", declaration))
    assert report.ok, report.message
    assert "dropout" in report.hyperparameters


def test_missing_supported_hyperparameters_function():
    source = VALID.replace("def supported_hyperparameters():", "def hyperparameters():")
    assert kinds(check_source(source)) == ["missing_supported_hyperparameters"]


def test_a_prm_key_read_but_not_declared_is_an_error_at_the_read():
    source = VALID.replace("self.prm = prm", "self.prm = prm\n        self.patch = prm['patch']")
    report = check_source(source)
    assert kinds(report) == ["undeclared_hyperparameter"]
    assert report.line == line_of(source, "prm['patch']")
    assert "prm['patch']" in report.message


@pytest.mark.parametrize(
    "statement",
    [
        "self.patch = prm.get('patch', 4)",  # a read with a default never fails
        "prm['patch'] = 4",  # an assignment is not a read
        "prm['patch'] = 4\n        self.patch = prm['patch']",  # a key the net writes itself
        "prm.setdefault('patch', 4)\n        self.patch = prm['patch']",
        "self.batch = prm['batch']\n        self.transform = prm['transform']",  # the trainer adds these
    ],
)
def test_reads_lemurs_trainer_satisfies_are_not_undeclared(statement: str):
    source = VALID.replace("self.prm = prm", "self.prm = prm\n        " + statement)
    report = check_source(source)
    assert report.ok, report.message


def test_a_declared_hyperparameter_never_read_is_fine_as_in_lemur():
    source = VALID.replace("self.drop = nn.Dropout(prm['dropout'])", "self.drop = nn.Dropout(0.2)")
    assert check_source(source).ok


def test_constructor_parameters_may_have_any_names_since_the_trainer_binds_them_by_position():
    source = (
        VALID.replace(
            "def __init__(self, in_shape: tuple, out_shape: tuple, prm: dict, device: torch.device) -> None:",
            "def __init__(self, shape_a, shape_b, params, device):",
        )
        .replace("prm['dropout']", "params['dropout']")
        .replace("in_shape[1], out_shape[0]", "shape_a[1], shape_b[0]")
    )
    report = check_source(source)
    assert report.ok, report.message
    undeclared = source.replace("params['dropout']", "params['patch']")
    assert kinds(check_source(undeclared)) == ["undeclared_hyperparameter"]  # `params` is still known as prm


def test_a_net_subclassing_a_torchvision_model_is_an_nn_module():
    source = VALID.replace("class Net(nn.Module):", "class Net(densenet.DenseNet):").replace(
        "import torch\n", "import torch\nfrom torchvision.models import densenet\n", 1
    )
    assert check_source(source).ok
    assert kinds(check_source(VALID.replace("class Net(nn.Module):", "class Net(Unknown):"))) == ["wrong_base"]


def test_unknown_hyperparameters_are_refused_by_default_and_allowed_when_asked():
    source = VALID.replace("{'lr', 'momentum', 'dropout'}", "{'lr', 'momentum', 'dropout', 'patch'}").replace(
        "self.prm = prm", "self.prm = prm\n        self.patch = prm['patch']"
    )
    assert kinds(check_source(source)) == ["unknown_hyperparameter"]
    lenient = check_source(source, known_hyperparameters=None)
    assert lenient.ok and "patch" in lenient.hyperparameters


def test_a_computed_prm_key_is_not_mistaken_for_a_hyperparameter():
    source = VALID.replace("self.prm = prm", "self.prm = prm\n        self.values = [prm[k] for k in prm]")
    assert check_source(source).ok


def test_several_problems_are_all_reported_in_line_order():
    source = (
        VALID.replace("def learn(self, train_data):", "def learn(self):")
        .replace("self.prm = prm", "self.prm = prm\n        self.patch = prm['patch']")
        .replace("return {'lr', 'momentum', 'dropout'}", "return {'lr', 'momentum', 'dropout', 'kernel'}")
    )
    report = check_source(source)
    assert sorted(kinds(report)) == ["undeclared_hyperparameter", "unknown_hyperparameter", "wrong_signature"]
    lines = [problem.line for problem in report.problems]
    assert lines == sorted(lines)
    assert all(problem.message in report.message for problem in report.problems)


def test_the_check_never_executes_the_source(tmp_path: Path):
    marker = tmp_path / "executed"
    hostile = VALID + f"\nopen({str(marker)!r}, 'w').write('ran')\nraise SystemExit(3)\n"
    report = check_source(hostile)
    assert report.ok
    assert not marker.exists()


def test_non_string_input_is_a_type_error():
    with pytest.raises(TypeError, match="str"):
        check_source(VALID.encode())  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_text_gets_a_classified_report_never_an_exception(text: str):
    report = check_source(text)
    assert report.outcome in {OUTCOME_OK, OUTCOME_SYNTAX_ERROR, OUTCOME_CONTRACT_ERROR}
    assert report.ok == (report.outcome == OUTCOME_OK)
    assert report.ok or report.message


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=len(VALID)))
def test_every_truncation_of_a_valid_net_is_classified(cut: int):
    report = check_source(VALID[:cut])
    assert report.outcome in {OUTCOME_OK, OUTCOME_SYNTAX_ERROR, OUTCOME_CONTRACT_ERROR}
    # Until `def learn` is complete a required method is missing; after that a cut may still leave valid code.
    if cut < VALID.index("def learn(self, train_data):") + len("def learn(self, train_data):"):
        assert not report.ok


def test_defaults_are_the_papers_evaluation_settings():
    assert hyperparameter_defaults({"lr", "momentum", "dropout", "weight_decay"}) == {
        "dropout": 0.2,
        "lr": 0.01,
        "momentum": 0.9,
        "weight_decay": 0.0,
    }
    assert hyperparameter_defaults(["momentum", "lr"]) == {"lr": 0.01, "momentum": 0.9}


def test_defaults_refuse_names_they_have_no_value_for():
    with pytest.raises(ValueError, match="patch"):
        hyperparameter_defaults({"lr", "patch"})


def test_the_last_definition_of_supported_hyperparameters_wins_as_in_python():
    redefined = VALID + "\n\ndef supported_hyperparameters():\n    return {'lr', 'momentum', 'kernel'}\n"
    report = check_source(redefined)
    assert kinds(report) == ["unknown_hyperparameter"]
    assert report.hyperparameters == frozenset({"lr", "momentum", "kernel"})
