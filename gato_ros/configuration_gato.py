"""Configuration of the Gato model and its named size presets.

This module is part of the ROS-free core: it imports neither rclpy nor message packages.

The three paper sizes come from the appendix table of "A Generalist Agent" (Reed et al., 2022):
layers, width, feed-forward size and heads. The CPU presets are ours: the same architecture with
a small text vocabulary so that a few-million-parameter model is not dominated by its embedding
table.

Parameter counts: this architecture (standard 4 * width^2 attention, 2 * width * feed-forward
MLP, one token table shared by input and output) gives 84.3M, 395M and 1.28B parameters for
the paper sizes, 7-9% above the published 79M, 364M and 1.18B. The published numbers cannot be
met by a standard block: the 24 blocks of the 1.18B model alone hold 24 * 12 * 2048^2 = 1.21B
parameters. We keep the published hyperparameters and report our own count
(``GatoConfig.describe``).
"""

from gato_ros.tokenizer import TokenizerConfig
from transformers import PretrainedConfig

_CPU_TOKENIZER = {'text_vocab_size': 1024}  # holds the shipped text model and 1024 discrete ids
_PRESETS = {
    'gato-1.18b': {'num_layers': 24, 'hidden_size': 2048, 'intermediate_size': 8192,
                   'num_heads': 16},
    'gato-364m': {'num_layers': 12, 'hidden_size': 1536, 'intermediate_size': 6144,
                  'num_heads': 12},
    'gato-79m': {'num_layers': 8, 'hidden_size': 768, 'intermediate_size': 3072,
                 'num_heads': 24},
    'gato-20m': {'num_layers': 6, 'hidden_size': 512, 'intermediate_size': 2048,
                 'num_heads': 8, 'tokenizer': _CPU_TOKENIZER},
    'gato-5m': {'num_layers': 5, 'hidden_size': 256, 'intermediate_size': 1024,
                'num_heads': 8, 'tokenizer': _CPU_TOKENIZER},
    # The demo checkpoint's size: trains in well under an hour on 2 shared CPU cores. Its
    # patch block has 16 channels: with 32 the convolutions took over half of a CPU training
    # step (1.14 s -> 0.62 s a step of 3k tokens, measured on 2 cores).
    'gato-2m': {'num_layers': 4, 'hidden_size': 192, 'intermediate_size': 768,
                'num_heads': 6, 'resnet_channels': 16, 'resnet_num_groups': 8,
                'tokenizer': _CPU_TOKENIZER},
    # For unit tests: small enough to train in seconds on one CPU thread.
    'gato-test': {'num_layers': 2, 'hidden_size': 64, 'intermediate_size': 256,
                  'num_heads': 4, 'context_length': 256, 'resnet_channels': 8,
                  'resnet_num_groups': 8, 'tokenizer': _CPU_TOKENIZER},
}
# Published parameter counts of the paper sizes, to compare with ours.
PAPER_PARAMETER_COUNTS = {'gato-1.18b': 1.18e9, 'gato-364m': 364e6, 'gato-79m': 79e6}


def list_presets() -> list:
    """Return the names accepted by :meth:`GatoConfig.from_preset`.

    Returns:
        The preset names, largest model first.

    """
    return list(_PRESETS)


class GatoConfig(PretrainedConfig):
    """Hyperparameters of :class:`gato_ros.modeling_gato.GatoModel`.

    Defaults are the paper's 79M size. Unpublished choices are fields, documented here.

    Attributes:
        num_layers: transformer blocks.
        hidden_size: width of the residual stream (embedding size).
        intermediate_size: hidden size of each block's GELU MLP.
        num_heads: attention heads; must divide ``hidden_size``.
        context_length: most tokens the model attends over (the policy's window).
        dropout: dropout on embeddings and residual branches (training).
        attention_dropout: dropout on attention weights (training). Off by default: on CPU
            any value > 0 makes PyTorch fall back to unfused attention, about 10x slower at
            1024 tokens.
        layer_norm_eps: epsilon of the LayerNorms.
        initializer_range: std of the normal init of linear, conv and embedding weights.
        resnet_channels: channels of the patch embedding's ResNet block (unpublished).
        resnet_num_groups: GroupNorm groups of that block (unpublished; 32 as in
            reimplementations); must divide ``resnet_channels``.
        max_window_timesteps: most timesteps of the current episode in one sequence, in
            training and at deployment (a prompt comes on top); 0: as many as the context
            holds (Gato). 1 makes the policy Markovian: small behaviour-cloned models that see
            their past actions learn to continue them (the copycat problem) and drift once
            their own actions are in the window.
        tokenizer: :class:`gato_ros.tokenizer.TokenizerConfig` as a dict; it fixes the
            vocabulary size and the number of local positions, so both are derived from it.

    """

    model_type = 'gato'

    num_layers: int = 8
    hidden_size: int = 768
    intermediate_size: int = 3072
    num_heads: int = 24
    context_length: int = 1024
    dropout: float = 0.1
    attention_dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    resnet_channels: int = 32
    resnet_num_groups: int = 32
    max_window_timesteps: int = 0
    tokenizer: dict | None = None

    def __post_init__(self, **kwargs):
        """Fill in the default tokenizer settings and check the sizes.

        Args:
            **kwargs: extra keys, handled by :class:`transformers.PretrainedConfig`.

        Raises:
            ValueError: if a size is not positive or two sizes do not fit together.

        """
        self.tokenizer = TokenizerConfig.from_dict(self.tokenizer or {}).to_dict()
        super().__post_init__(**kwargs)
        for name in ('num_layers', 'hidden_size', 'intermediate_size', 'num_heads',
                     'context_length', 'resnet_channels', 'resnet_num_groups'):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f'{name} must be positive, got {getattr(self, name)}')
        if int(self.max_window_timesteps) < 0:
            raise ValueError(f'max_window_timesteps must be >= 0, got {self.max_window_timesteps}')
        if self.hidden_size % self.num_heads:
            raise ValueError(f'num_heads ({self.num_heads}) must divide hidden_size '
                             f'({self.hidden_size})')
        if self.resnet_channels % self.resnet_num_groups:
            raise ValueError(f'resnet_num_groups ({self.resnet_num_groups}) must divide '
                             f'resnet_channels ({self.resnet_channels})')
        for name in ('dropout', 'attention_dropout'):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f'{name} must be in [0, 1), got {getattr(self, name)}')

    @property
    def tokenizer_config(self) -> TokenizerConfig:
        """The tokenizer settings the model was built for."""
        return TokenizerConfig.from_dict(self.tokenizer)

    @property
    def vocab_size(self) -> int:
        """Rows of the token embedding table (text, continuous, separator, padding)."""
        return self.tokenizer_config.vocab_size

    @property
    def num_local_positions(self) -> int:
        """Rows of the local observation position table."""
        return self.tokenizer_config.num_local_positions

    @property
    def head_size(self) -> int:
        """Width of one attention head."""
        return self.hidden_size // self.num_heads

    @classmethod
    def from_preset(cls, name: str, **overrides) -> 'GatoConfig':
        """Build the config of a named size.

        Args:
            name: one of :func:`list_presets`.
            **overrides: fields to change, e.g. ``dropout=0.0`` or ``tokenizer={...}``.

        Returns:
            The config.

        Raises:
            ValueError: for an unknown preset name.

        """
        if name not in _PRESETS:
            raise ValueError(f'unknown preset {name!r}, expected one of {list_presets()}')
        fields = {**_PRESETS[name], **overrides}
        return cls(**fields)

    def count_parameters(self) -> int:
        """Count the model's parameters without allocating them (built on the meta device).

        Returns:
            The number of parameters.

        """
        # modeling_gato imports this module, so it can only be imported when called.
        import torch

        from gato_ros.modeling_gato import GatoModel
        with torch.device('meta'):
            model = GatoModel(self)
        return sum(parameter.numel() for parameter in model.parameters())

    def describe(self) -> str:
        """Summarize the dimensions and the parameter count in a few lines.

        Returns:
            Human-readable text.

        """
        count = self.count_parameters()
        lines = [
            f'layers {self.num_layers}, width {self.hidden_size}, feed-forward '
            f'{self.intermediate_size}, heads {self.num_heads} (head size {self.head_size})',
            f'vocabulary {self.vocab_size} (text {self.tokenizer["text_vocab_size"]}, '
            f'continuous bins {self.tokenizer["num_bins"]}), context {self.context_length} '
            f'tokens, local positions {self.num_local_positions}',
            f'parameters {count:,} ({count / 1e6:.1f}M, '
            f'{4 * count / 2 ** 20:.0f} MiB in float32)',
        ]
        for name, published in PAPER_PARAMETER_COUNTS.items():
            if all(getattr(self, key) == value for key, value in _PRESETS[name].items()):
                lines.append(f'paper: {published / 1e6:,.0f}M published '
                             f'({100 * (count / published - 1):+.1f}% here)')
        return '\n'.join(lines)
