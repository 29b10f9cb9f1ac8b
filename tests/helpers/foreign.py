"""State dicts with exactly the parameter names and shapes of NVIDIA/tacotron2's model.py (DLE's too), at
sizes from a ModelConfig, and a functional NVIDIA teacher-forced forward to check converted weights against."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from tacotron.config import ModelConfig
from tacotron.model.convert import NVIDIA_SYMBOLS


def nvidia_shapes(m: ModelConfig, n_mels: int = 80, n_symbols: int = len(NVIDIA_SYMBOLS), r: int = 1) -> dict:
    """name -> shape, in NVIDIA's module order (ConvNorm wraps Conv1d as .conv, LinearNorm wraps Linear
    as .linear_layer, BatchNorm1d follows each ConvNorm in an nn.Sequential)."""
    e, h, p = m.encoder_embedding_dim, m.encoder_embedding_dim // 2, m.prenet_dim
    a, d, att = m.attention_rnn_dim, m.decoder_rnn_dim, m.attention_dim
    shapes: dict[str, tuple[int, ...]] = {"embedding.weight": (n_symbols, m.symbols_embedding_dim)}
    for i in range(m.encoder_n_convolutions):
        shapes |= _conv_norm(f"encoder.convolutions.{i}", e, e, m.encoder_kernel_size)
    for suffix in ("", "_reverse"):
        shapes |= {
            f"encoder.lstm.weight_ih_l0{suffix}": (4 * h, e),
            f"encoder.lstm.weight_hh_l0{suffix}": (4 * h, h),
            f"encoder.lstm.bias_ih_l0{suffix}": (4 * h,),
            f"encoder.lstm.bias_hh_l0{suffix}": (4 * h,),
        }
    shapes["decoder.prenet.layers.0.linear_layer.weight"] = (p, n_mels * r)
    shapes["decoder.prenet.layers.1.linear_layer.weight"] = (p, p)
    shapes |= _lstm_cell("decoder.attention_rnn", p + e, a)
    layer = "decoder.attention_layer"
    shapes |= {
        f"{layer}.query_layer.linear_layer.weight": (att, a),
        f"{layer}.memory_layer.linear_layer.weight": (att, e),
        f"{layer}.v.linear_layer.weight": (1, att),
        f"{layer}.location_layer.location_conv.conv.weight": (
            m.attention_location_n_filters,
            2,
            m.attention_location_kernel_size,
        ),
        f"{layer}.location_layer.location_dense.linear_layer.weight": (att, m.attention_location_n_filters),
    }
    shapes |= _lstm_cell("decoder.decoder_rnn", a + e, d)
    shapes |= {
        "decoder.linear_projection.linear_layer.weight": (n_mels * r, d + e),
        "decoder.linear_projection.linear_layer.bias": (n_mels * r,),
        "decoder.gate_layer.linear_layer.weight": (1, d + e),
        "decoder.gate_layer.linear_layer.bias": (1,),
    }
    dims = [n_mels] + [m.postnet_embedding_dim] * (m.postnet_n_convolutions - 1) + [n_mels]
    for i in range(m.postnet_n_convolutions):
        shapes |= _conv_norm(f"postnet.convolutions.{i}", dims[i], dims[i + 1], m.postnet_kernel_size)
    return shapes


def _conv_norm(prefix: str, c_in: int, c_out: int, kernel: int) -> dict:
    return {
        f"{prefix}.0.conv.weight": (c_out, c_in, kernel),
        f"{prefix}.0.conv.bias": (c_out,),
        f"{prefix}.1.weight": (c_out,),
        f"{prefix}.1.bias": (c_out,),
        f"{prefix}.1.running_mean": (c_out,),
        f"{prefix}.1.running_var": (c_out,),
        f"{prefix}.1.num_batches_tracked": (),
    }


def _lstm_cell(prefix: str, n_in: int, hidden: int) -> dict:
    return {
        f"{prefix}.weight_ih": (4 * hidden, n_in),
        f"{prefix}.weight_hh": (4 * hidden, hidden),
        f"{prefix}.bias_ih": (4 * hidden,),
        f"{prefix}.bias_hh": (4 * hidden,),
    }


def nvidia_state_dict(m: ModelConfig, n_mels: int = 80, seed: int = 0, **kwargs) -> dict[str, torch.Tensor]:
    """Random values (every tensor distinct) in NVIDIA's names and shapes; BatchNorm running variances
    positive and batch counters long, as trained weights have them."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in nvidia_shapes(m, n_mels, **kwargs).items():
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(1000 + len(state))
        elif name.endswith("running_var"):
            state[name] = 0.5 + torch.rand(shape, generator=gen)
        else:
            state[name] = 0.3 * torch.randn(shape, generator=gen)
    return state


def without_wrappers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The same tensors under torchaudio's names (no .conv / .linear_layer wrappers)."""
    return {
        ".".join(p for p in k.split(".") if p not in ("conv", "linear_layer")): v for k, v in state.items()
    }


def nvidia_forward(sd: dict[str, torch.Tensor], text: torch.Tensor, mels: torch.Tensor) -> tuple:
    """NVIDIA's Tacotron2.forward in eval mode without prenet dropout (its model.py, written with
    functionals over its own names), for a batch without padding: -> mel, mel_postnet, gate, alignments."""
    x = F.embedding(text, sd["embedding.weight"]).transpose(1, 2)
    i = 0
    while f"encoder.convolutions.{i}.0.conv.weight" in sd:
        x = F.relu(_conv_bn(sd, f"encoder.convolutions.{i}", x))
        i += 1
    lstm = torch.nn.LSTM(x.size(1), x.size(1) // 2, batch_first=True, bidirectional=True)
    lstm.load_state_dict(
        {k[len("encoder.lstm.") :]: v for k, v in sd.items() if k.startswith("encoder.lstm.")}
    )
    memory = lstm(x.transpose(1, 2))[0]
    mel, gate, align = _nvidia_decoder(sd, memory, mels)
    post, i = mel, 0
    while f"postnet.convolutions.{i}.0.conv.weight" in sd:
        post = _conv_bn(sd, f"postnet.convolutions.{i}", post)
        i += 1
        post = torch.tanh(post) if f"postnet.convolutions.{i}.0.conv.weight" in sd else post
    return mel, mel + post, gate, align


def _conv_bn(sd: dict, prefix: str, x: torch.Tensor) -> torch.Tensor:
    w = sd[f"{prefix}.0.conv.weight"]
    x = F.conv1d(x, w, sd[f"{prefix}.0.conv.bias"], padding=(w.size(2) - 1) // 2)
    bn = f"{prefix}.1"
    return F.batch_norm(
        x, sd[f"{bn}.running_mean"], sd[f"{bn}.running_var"], sd[f"{bn}.weight"], sd[f"{bn}.bias"], False
    )


def _cell(sd: dict, prefix: str, x: torch.Tensor, state: tuple) -> tuple:
    cell = torch.nn.LSTMCell(x.size(1), state[0].size(1))
    cell.load_state_dict({k[len(prefix) + 1 :]: v for k, v in sd.items() if k.startswith(prefix + ".")})
    return cell(x, state)


def _nvidia_decoder(sd: dict, memory: torch.Tensor, mels: torch.Tensor) -> tuple:
    lin = lambda name, x: F.linear(x, sd[f"{name}.linear_layer.weight"], sd.get(f"{name}.linear_layer.bias"))  # noqa: E731
    b, n_mels, t = mels.shape
    att = "decoder.attention_layer"
    inputs = torch.cat([mels.new_zeros(b, n_mels, 1), mels[:, :, :-1]], dim=2).transpose(1, 2)
    prenet = F.relu(lin("decoder.prenet.layers.1", F.relu(lin("decoder.prenet.layers.0", inputs))))
    processed_memory = lin(f"{att}.memory_layer", memory)
    a_dim, d_dim = sd["decoder.attention_rnn.weight_hh"].size(1), sd["decoder.decoder_rnn.weight_hh"].size(1)
    att_state = (memory.new_zeros(b, a_dim), memory.new_zeros(b, a_dim))
    dec_state = (memory.new_zeros(b, d_dim), memory.new_zeros(b, d_dim))
    weights = weights_cum = memory.new_zeros(b, memory.size(1))
    context = memory.new_zeros(b, memory.size(2))
    conv = sd[f"{att}.location_layer.location_conv.conv.weight"]
    frames, gates, aligns = [], [], []
    for step in range(t):
        att_state = _cell(sd, "decoder.attention_rnn", torch.cat([prenet[:, step], context], -1), att_state)
        location = F.conv1d(torch.stack([weights, weights_cum], 1), conv, padding=(conv.size(2) - 1) // 2)
        location = lin(f"{att}.location_layer.location_dense", location.transpose(1, 2))
        query = lin(f"{att}.query_layer", att_state[0]).unsqueeze(1)
        energies = lin(f"{att}.v", torch.tanh(query + location + processed_memory)).squeeze(-1)
        weights = F.softmax(energies, dim=1)
        weights_cum = weights_cum + weights
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)
        dec_state = _cell(sd, "decoder.decoder_rnn", torch.cat([att_state[0], context], -1), dec_state)
        features = torch.cat([dec_state[0], context], -1)
        frames.append(lin("decoder.linear_projection", features))
        gates.append(lin("decoder.gate_layer", features).squeeze(1))
        aligns.append(weights)
    return torch.stack(frames, 2), torch.stack(gates, 1), torch.stack(aligns, 1)
