"""Toy neural architecture search: a MnasNet-style space, its reward, three search strategies, a
tabular benchmark to judge them, and FBNet's differentiable search. One concern per file, read in
this order:

- `space.py`: the search space (MnasNet's factorised hierarchical one) and the network an
  architecture describes (`SearchSpace`, `BlockChoice`, `SearchedNet`, `TABLE_SPACE`);
- `reward.py`: MnasNet's reward `ACC * (LAT / T)^w`, EfficientNetV2's `A * S^w * P^v` and the Pareto front;
- `strategies.py`: random search, REINFORCE and regularized evolution behind one ask/tell
  interface, and the `search` loop;
- `benchmark.py`: the course's tabular benchmark (every network of `TABLE_SPACE` trained and
  recorded) and how a strategy is scored on it;
- `fbnet.py`: FBNet's supernet, Gumbel-softmax weights, latency-aware loss and search on digits;
- `masking.py`: FBNetV2's channel search: every width of a layer is a mask on one shared conv;
- `netadapt.py`: NetAdapt, shrinking a trained network one layer at a time to a latency budget;
- `predictor.py`: an accuracy predictor from the architecture encoding, and evolution it guides;
- `optuna_search.py`: Optuna's samplers (TPE, GP, NSGA-II) behind the same ask/tell interface,
  and the hypervolume of a two-objective search's front;
- `distributed.py`: a queue of jobs in an Optuna storage, so many workers on many machines share
  one search or one table build.

Everything is importable from `lwcnn.nas` itself:

    >>> from lwcnn import nas
    >>> strategy = nas.RegularizedEvolution(nas.SearchSpace(), seed=0)
"""

from lwcnn.nas.benchmark import (
    DEFAULT_TABLE,
    HELDOUT_TABLE,
    TableRow,
    evaluations_to_reach,
    first_hits,
    load_table,
    table_rewards,
    table_task,
    top_share,
)
from lwcnn.nas.fbnet import (
    DIGITS_SEARCH,
    FBNET_LOSS,
    FBNET_TEMPERATURE,
    SearchEpoch,
    SearchResult,
    SearchSettings,
    Supernet,
    SupernetLatency,
    _block_candidates,  # noqa: F401 - its old name, kept for a diagram helper
    annealed_temperature,
    block_candidates,
    fbnet_loss,
    fbnet_search,
    gumbel_softmax,
    supernet_blocks,
)
from lwcnn.nas.masking import (
    MASKED_SEARCH,
    MASKED_WIDTHS,
    ChannelMask,
    MaskedSearchResult,
    MaskedSupernet,
    WidthLatency,
    macs_latency_table,
    masked_search,
    table_from_lut,
)
from lwcnn.nas.netadapt import (
    NetAdapt,
    NetAdaptIteration,
    Proposal,
    UniformScaling,
    recorded_finals,
    recorded_netadapt,
    uniform_scaling_at,
)
from lwcnn.nas.optuna_search import (
    FRONT_BUDGET,
    OPTUNA_SETTINGS,
    SAMPLERS,
    FrontSearch,
    OptunaStrategy,
    hypervolume_2d,
    hypervolume_ratio,
    nsga2_search,
    optuna_strategy,
)
from lwcnn.nas.predictor import (
    PREDICTOR_SETTINGS,
    AccuracyPredictor,
    PredictorEvolution,
    arch_features,
    fit_predictor,
    kendall_tau,
    predictor_rank_correlation,
    predictor_strategy,
)
from lwcnn.nas.reward import (
    EFFICIENTNET_V2_EXPONENTS,
    HARD,
    SOFT,
    efficientnet_v2_reward,
    mnas_reward,
    pareto_front,
)
from lwcnn.nas.space import (
    DECISIONS,
    EXPANSION,
    HELDOUT_SPACE,
    OPS,
    TABLE_SPACE,
    Arch,
    BlockChoice,
    ConvBlock,
    SearchedNet,
    SearchSpace,
)
from lwcnn.nas.strategies import (
    STRATEGIES,
    TABLE_SETTINGS,
    RandomSearch,
    RegularizedEvolution,
    Reinforce,
    Strategy,
    search,
    table_strategy,
)

__all__ = [
    # what the lessons use
    "DIGITS_SEARCH",
    "FBNET_LOSS",
    "FBNET_TEMPERATURE",
    "SearchEpoch",
    "SearchResult",
    "SearchSettings",
    "Supernet",
    "SupernetLatency",
    "annealed_temperature",
    "block_candidates",
    "fbnet_loss",
    "fbnet_search",
    "gumbel_softmax",
    "supernet_blocks",
    "BlockChoice",
    "ConvBlock",
    "HARD",
    "OPS",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "SOFT",
    "STRATEGIES",
    "SearchSpace",
    "TABLE_SPACE",
    "SearchedNet",
    "TableRow",
    "load_table",
    "evaluations_to_reach",
    "first_hits",
    "table_task",
    "TABLE_SETTINGS",
    "table_rewards",
    "table_strategy",
    "top_share",
    "Strategy",
    "mnas_reward",
    "efficientnet_v2_reward",
    "EFFICIENTNET_V2_EXPONENTS",
    "pareto_front",
    "search",
    # lesson 14: searching widths, predictors, Optuna
    "ChannelMask",
    "MASKED_SEARCH",
    "MASKED_WIDTHS",
    "MaskedSearchResult",
    "MaskedSupernet",
    "WidthLatency",
    "macs_latency_table",
    "masked_search",
    "table_from_lut",
    "NetAdapt",
    "NetAdaptIteration",
    "Proposal",
    "UniformScaling",
    "uniform_scaling_at",
    "recorded_netadapt",
    "recorded_finals",
    "AccuracyPredictor",
    "PREDICTOR_SETTINGS",
    "PredictorEvolution",
    "arch_features",
    "fit_predictor",
    "kendall_tau",
    "predictor_rank_correlation",
    "predictor_strategy",
    "FRONT_BUDGET",
    "FrontSearch",
    "OPTUNA_SETTINGS",
    "OptunaStrategy",
    "SAMPLERS",
    "hypervolume_2d",
    "hypervolume_ratio",
    "nsga2_search",
    "optuna_strategy",
    # what benchmarks and tests use besides
    "Arch",
    "DECISIONS",
    "DEFAULT_TABLE",
    "EXPANSION",
    "HELDOUT_SPACE",
    "HELDOUT_TABLE",
]
