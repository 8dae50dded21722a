"""The Gato model: token and image-patch embedding, then a decoder-only transformer.

This module is part of the ROS-free core: it imports neither rclpy nor message packages.

Input: the arrays of :class:`gato_ros.tokenizer.TokenizedSequence`, batched (B sequences of L
tokens, P image patches each). Output: next-token logits over the whole vocabulary.

Embedding of token i (width C):

* ``tokens[i]`` looks up one table shared by text, discrete and continuous values, the separator
  and padding; the output head reuses this table (tied weights, the paper does not say);
* if ``patch_index[i] >= 0`` the token is an image patch: its embedding is replaced by the patch
  through a stem convolution and one pre-activation ResNet-v2 block (GroupNorm, GELU, a
  stride-2 second convolution, average-pooled identity shortcut), flattened and projected to C,
  plus learned row and column position embeddings over ``num_position_bins`` bins. In training
  the bin is drawn uniformly inside the patch's [start, end) interval; at evaluation it is the
  interval's rounded mean ``(start + end) // 2``;
* plus a learned local observation position embedding ``local_positions[i]``.

Positions in time: like Gato there is no absolute position embedding over the window. Order
comes from causal attention and the local positions repeat at every timestep, so a window that
starts at any timestep is embedded the same way, and the KV cache needs no position offset.

Padding: training batches are right-padded. With causal attention a real token never attends
to a later padding token, so no attention mask is needed; padding carries no loss.
"""

from dataclasses import dataclass

from gato_ros.configuration_gato import GatoConfig
import torch
from torch import nn
import torch.nn.functional as F
from transformers import DynamicCache, PreTrainedModel
from transformers.utils import ModelOutput


@dataclass
class GatoOutput(ModelOutput):
    """Output of :meth:`GatoModel.forward`.

    Attributes:
        logits: (B, L', vocab_size) next-token logits, L' = L or ``logits_to_keep``.
        cache: the updated KV cache, or None when ``use_cache`` is False.

    """

    logits: torch.Tensor | None = None
    cache: DynamicCache | None = None


class PatchEmbedding(nn.Module):
    """Embed image patches: one ResNet-v2 block, a projection to C, row/column positions."""

    def __init__(self, config: GatoConfig):
        """Build the layers.

        Args:
            config: the model config.

        """
        super().__init__()
        channels, groups = config.resnet_channels, config.resnet_num_groups
        tokenizer = config.tokenizer_config
        # The stem lifts RGB to `channels` so that GroupNorm has channels to group.
        self.stem = nn.Conv2d(3, channels, kernel_size=3, padding=1)
        self.norm1 = nn.GroupNorm(groups, channels)
        self.conv1 = nn.Conv2d(channels, channels, kernel_size=3, padding=1)
        self.norm2 = nn.GroupNorm(groups, channels)
        # The block halves the resolution so that the flattened output, and the projection to
        # C, stay small.
        self.conv2 = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=1)
        side = (tokenizer.patch_size + 1) // 2
        self.projection = nn.Linear(channels * side * side, config.hidden_size)
        self.row_embedding = nn.Embedding(tokenizer.num_position_bins, config.hidden_size)
        self.col_embedding = nn.Embedding(tokenizer.num_position_bins, config.hidden_size)

    def _position(self, interval: torch.Tensor) -> torch.Tensor:
        start, end = interval.unbind(-1)  # (N,), (N,)
        if self.training:
            offset = torch.rand(start.shape, device=start.device) * (end - start)
            return start + offset.long()
        return (start + end) // 2

    def forward(self, patches: torch.Tensor, rows: torch.Tensor,
                cols: torch.Tensor) -> torch.Tensor:
        """Embed N patches.

        Args:
            patches: (N, 3, S, S) float patches (S = patch size).
            rows: (N, 2) int [start, end) row interval in position bins.
            cols: (N, 2) int [start, end) column interval in position bins.

        Returns:
            (N, C) embeddings.

        """
        x = self.stem(patches)  # (N, K, S, S), K = resnet channels
        h = self.conv1(F.gelu(self.norm1(x)))  # (N, K, S, S)
        h = self.conv2(F.gelu(self.norm2(h)))  # (N, K, S/2, S/2)
        # A parameter-free shortcut keeps the un-normalized signal: GroupNorm with few
        # channels per group would remove the mean colour of a flat patch.
        x = F.avg_pool2d(x, kernel_size=2, ceil_mode=True) + h  # (N, K, S/2, S/2)
        embedding = self.projection(x.flatten(1))  # (N, K * S/2 * S/2) -> (N, C)
        return (embedding + self.row_embedding(self._position(rows))
                + self.col_embedding(self._position(cols)))


class SelfAttention(nn.Module):
    """Multi-head causal self-attention with an optional KV cache."""

    def __init__(self, config: GatoConfig, layer_index: int):
        """Build the layers.

        Args:
            config: the model config.
            layer_index: index of the block, the key of its entries in the KV cache.

        """
        super().__init__()
        self.layer_index = layer_index
        self.num_heads = config.num_heads
        self.attention_dropout = config.attention_dropout
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.out = nn.Linear(config.hidden_size, config.hidden_size)
        self.out_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None,
                cache: DynamicCache | None) -> torch.Tensor:
        """Attend from the new tokens to the cached ones and to themselves.

        Args:
            x: (B, L, C) normalized hidden states of the new tokens.
            mask: (L, past + L) bool, True where attention is allowed, or None for plain
                causal attention (no past, or a single new token that may see everything).
            cache: the KV cache to read and extend, or None.

        Returns:
            (B, L, C) attention output.

        """
        batch, length, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)  # 3 x (B, L, C)
        head_shape = (batch, length, self.num_heads, width // self.num_heads)
        q = q.view(head_shape).transpose(1, 2)  # (B, H, L, C/H)
        k = k.view(head_shape).transpose(1, 2)  # (B, H, L, C/H)
        v = v.view(head_shape).transpose(1, 2)  # (B, H, L, C/H)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_index)  # (B, H, past + L, C/H)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.attention_dropout if self.training else 0.0,
            is_causal=mask is None and length > 1)  # (B, H, L, C/H)
        y = y.transpose(1, 2).reshape(batch, length, width)  # (B, L, C)
        return self.out_dropout(self.out(y))


class Block(nn.Module):
    """Pre-LayerNorm transformer block: attention and GELU MLP, each on a residual branch."""

    def __init__(self, config: GatoConfig, layer_index: int):
        """Build the layers.

        Args:
            config: the model config.
            layer_index: index of the block.

        """
        super().__init__()
        self.attention_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = SelfAttention(config, layer_index)
        self.mlp_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_size, config.intermediate_size),
            nn.GELU(),
            nn.Linear(config.intermediate_size, config.hidden_size),
            nn.Dropout(config.dropout))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None,
                cache: DynamicCache | None) -> torch.Tensor:
        """Apply the block.

        Args:
            x: (B, L, C) hidden states.
            mask: see :meth:`SelfAttention.forward`.
            cache: the KV cache, or None.

        Returns:
            (B, L, C) hidden states.

        """
        x = x + self.attention(self.attention_norm(x), mask, cache)
        return x + self.mlp(self.mlp_norm(x))


class GatoModel(PreTrainedModel):
    """Gato: embeddings of tokenized sequences, a causal transformer, tied output logits."""

    config_class = GatoConfig
    base_model_prefix = 'gato'
    main_input_name = 'tokens'

    def __init__(self, config: GatoConfig):
        """Build the model and initialize its weights.

        Args:
            config: the model config.

        """
        super().__init__(config)
        self.token_embedding = nn.Embedding(config.vocab_size, config.hidden_size)
        self.patch_embedding = PatchEmbedding(config)
        self.local_position_embedding = nn.Embedding(config.num_local_positions,
                                                     config.hidden_size)
        self.embedding_dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, index) for index in range(config.num_layers))
        self.final_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        """Return the token table (also the output head).

        Returns:
            The token embedding.

        """
        return self.token_embedding

    def embed(self, tokens: torch.Tensor, local_positions: torch.Tensor,
              patch_index: torch.Tensor | None = None, patches: torch.Tensor | None = None,
              patch_rows: torch.Tensor | None = None,
              patch_cols: torch.Tensor | None = None) -> torch.Tensor:
        """Embed a batch of tokenized sequences (arguments as in :meth:`forward`).

        Args:
            tokens: (B, L) token ids.
            local_positions: (B, L) local observation positions.
            patch_index: (B, L) index into ``patches`` of image-patch tokens, -1 elsewhere.
            patches: (B, P, 3, S, S) image patches.
            patch_rows: (B, P, 2) row intervals of the patches.
            patch_cols: (B, P, 2) column intervals of the patches.

        Returns:
            (B, L, C) embeddings.

        Raises:
            ValueError: if patch tokens are given without their patches.

        """
        x = self.token_embedding(tokens)  # (B, L, C)
        if patch_index is not None and bool((patch_index >= 0).any()):
            if patches is None or patch_rows is None or patch_cols is None:
                raise ValueError('patch_index marks image-patch tokens, so patches, '
                                 'patch_rows and patch_cols are required, got None')
            # Only the patches the tokens refer to are embedded: padding patches cost nothing.
            batch_idx, token_idx = (patch_index >= 0).nonzero(as_tuple=True)  # (N,), (N,)
            used = patch_index[batch_idx, token_idx]  # (N,)
            embedded = self.patch_embedding(
                patches[batch_idx, used], patch_rows[batch_idx, used],
                patch_cols[batch_idx, used])  # (N, C)
            x = x.index_put((batch_idx, token_idx), embedded)  # (B, L, C)
        x = x + self.local_position_embedding(local_positions)
        return self.embedding_dropout(x)

    def forward(self, tokens: torch.Tensor, local_positions: torch.Tensor,
                patch_index: torch.Tensor | None = None, patches: torch.Tensor | None = None,
                patch_rows: torch.Tensor | None = None, patch_cols: torch.Tensor | None = None,
                cache: DynamicCache | None = None, use_cache: bool = False,
                logits_to_keep: int = 0) -> GatoOutput:
        """Compute next-token logits of new tokens, optionally continuing a KV cache.

        Args:
            tokens: (B, L) int64 token ids.
            local_positions: (B, L) int64 local observation positions.
            patch_index: (B, L) int64 index into ``patches`` for image-patch tokens, -1
                elsewhere; None when there is no image.
            patches: (B, P, 3, S, S) float32 image patches.
            patch_rows: (B, P, 2) int64 [start, end) row intervals in position bins.
            patch_cols: (B, P, 2) int64 [start, end) column intervals.
            cache: KV cache of the tokens before these (from an earlier call), or None.
            use_cache: return the cache extended by these tokens (a new one if None given).
            logits_to_keep: compute logits for the last n tokens only; 0 keeps all.

        Returns:
            :class:`GatoOutput` with logits (B, L or n, vocab_size) and the cache.

        Raises:
            ValueError: if shapes disagree or the cache plus the new tokens exceed
                ``context_length``.

        """
        if tokens.dim() != 2 or local_positions.shape != tokens.shape:
            raise ValueError(f'tokens and local_positions must both be (B, L), got '
                             f'{tuple(tokens.shape)} and {tuple(local_positions.shape)}')
        if use_cache and cache is None:
            cache = DynamicCache()
        past = cache.get_seq_length() if cache is not None else 0
        length = tokens.shape[1]
        if past + length > self.config.context_length:
            raise ValueError(f'{past} cached + {length} new tokens exceed context_length '
                             f'{self.config.context_length}')
        mask = None
        if past > 0 and length > 1:
            # New token i (at absolute position past + i) sees every key up to itself.
            mask = torch.ones(length, past + length, dtype=torch.bool,
                              device=tokens.device).tril(diagonal=past)  # (L, past + L)
        x = self.embed(tokens, local_positions, patch_index, patches, patch_rows, patch_cols)
        for block in self.blocks:
            x = block(x, mask, cache)  # (B, L, C)
        # x[:, -0:] is the whole sequence, so logits_to_keep=0 keeps every position.
        x = self.final_norm(x[:, -logits_to_keep:])  # (B, L or n, C)
        logits = F.linear(x, self.token_embedding.weight)  # (B, L or n, vocab_size)
        return GatoOutput(logits=logits, cache=cache if use_cache else None)


def next_token_loss(logits: torch.Tensor, tokens: torch.Tensor,
                    loss_mask: torch.Tensor) -> torch.Tensor:
    """Masked next-token cross-entropy: logits at i predict token i + 1 where masked in.

    Args:
        logits: (B, L, V) logits of every position.
        tokens: (B, L) token ids.
        loss_mask: (B, L) 1 where the token is a target (text and actions), else 0.

    Returns:
        Scalar mean cross-entropy over the target tokens.

    """
    batch, length, vocab = logits.shape
    losses = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), tokens[:, 1:].reshape(-1),
                             reduction='none').view(batch, length - 1)  # (B, L - 1)
    weights = loss_mask[:, 1:].to(losses.dtype)  # (B, L - 1)
    return (losses * weights).sum() / weights.sum().clamp(min=1.0)


def collate_sequences(sequences, pad_id: int, device=None) -> tuple:
    """Right-pad tokenized sequences into one batch of tensors.

    Args:
        sequences: non-empty list of :class:`gato_ros.tokenizer.TokenizedSequence`.
        pad_id: token id of padding (``TokenizerConfig.pad_id``).
        device: torch device of the tensors (default CPU).

    Returns:
        ``(inputs, targets)``: ``inputs`` holds the keyword arguments of
        :meth:`GatoModel.forward` (``tokens``, ``local_positions``, ``patch_index`` (B, L),
        ``patches`` (B, P, 3, S, S), ``patch_rows``, ``patch_cols`` (B, P, 2)); ``targets``
        holds ``loss_mask`` (B, L) float and ``is_action`` (B, L) bool, zero on padding.

    Raises:
        ValueError: if no sequence is given.

    """
    if not sequences:
        raise ValueError('collate_sequences needs at least one sequence, got none')
    batch = len(sequences)
    length = max(len(item) for item in sequences)
    num_patches = max(item.patches.shape[0] for item in sequences)
    patch_shape = sequences[0].patches.shape[1:]  # (3, S, S)
    tokens = torch.full((batch, length), pad_id, dtype=torch.long)
    patch_index = torch.full((batch, length), -1, dtype=torch.long)
    local_positions = torch.zeros((batch, length), dtype=torch.long)
    loss_mask = torch.zeros((batch, length))
    is_action = torch.zeros((batch, length), dtype=torch.bool)
    patches = torch.zeros((batch, num_patches) + tuple(patch_shape))
    patch_rows = torch.zeros((batch, num_patches, 2), dtype=torch.long)
    patch_cols = torch.zeros((batch, num_patches, 2), dtype=torch.long)
    for row, item in enumerate(sequences):
        count, used = len(item), item.patches.shape[0]
        tokens[row, :count] = torch.from_numpy(item.tokens)
        patch_index[row, :count] = torch.from_numpy(item.patch_index)
        local_positions[row, :count] = torch.from_numpy(item.local_positions)
        loss_mask[row, :count] = torch.from_numpy(item.loss_mask)
        is_action[row, :count] = torch.from_numpy(item.is_action)
        patches[row, :used] = torch.from_numpy(item.patches)
        patch_rows[row, :used] = torch.from_numpy(item.patch_rows)
        patch_cols[row, :used] = torch.from_numpy(item.patch_cols)
    inputs = {'tokens': tokens, 'local_positions': local_positions, 'patch_index': patch_index,
              'patches': patches, 'patch_rows': patch_rows, 'patch_cols': patch_cols}
    targets = {'loss_mask': loss_mask, 'is_action': is_action}
    return ({key: value.to(device) for key, value in inputs.items()},
            {key: value.to(device) for key, value in targets.items()})
