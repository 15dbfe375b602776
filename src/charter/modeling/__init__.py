"""Phase 3: baseline first, honest validation, the business metric, explanations."""

from charter.modeling._artifacts import load_candidate, save_candidate
from charter.modeling._candidates import Candidate, default_candidates
from charter.modeling._frame import ModelingFrame, build_frame
from charter.modeling._result import CandidateResult, TrainResult
from charter.modeling._simple import CustomCandidate
from charter.modeling._train import Trained, train

__all__ = [
    "Candidate",
    "CandidateResult",
    "CustomCandidate",
    "ModelingFrame",
    "TrainResult",
    "Trained",
    "build_frame",
    "default_candidates",
    "load_candidate",
    "save_candidate",
    "train",
]
