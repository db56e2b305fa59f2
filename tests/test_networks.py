"""Network builders: layer layout and data-dependent initialisation."""

from __future__ import annotations

import pytest
import torch

from skae._networks import ACTIVATIONS, build_conv, build_dense, init_output_bias


@pytest.mark.parametrize("output", [None, "logistic"])
def test_vanilla_decoder_starts_at_the_feature_means(output):
    torch.manual_seed(0)
    net = build_dense(6, 2, (), "relu", output_activation=output)
    means = torch.tensor([0.0, 0.1, 0.25, 0.5, 0.9, 1.0])
    init_output_bias(net, means)
    # A zero code reaches the output through the bias alone.
    decoded = net.decoder(torch.zeros(1, 2))[0]
    # Means of exactly 0 or 1 are clipped before the logit (finite bias).
    expected = means.clamp(1e-4, 1 - 1e-4) if output else means
    torch.testing.assert_close(decoded, expected, atol=1e-6, rtol=1e-5)
    assert torch.isfinite(net.decoder[-2].bias).all()


def test_conv_decoder_bias_is_the_channel_mean():
    torch.manual_seed(0)
    net = build_conv((2, 4, 4), 3, (4,), "relu", output_activation="logistic")
    means = torch.cat([torch.full((16,), 0.2), torch.full((16,), 0.6)])
    init_output_bias(net, means)
    deconv = [m for m in net.decoder if isinstance(m, torch.nn.ConvTranspose2d)][-1]
    torch.testing.assert_close(
        torch.sigmoid(deconv.bias), torch.tensor([0.2, 0.6]), atol=1e-6, rtol=1e-5
    )


def test_conv_hidden_layers_sit_between_features_and_code():
    net = build_conv((1, 8, 8), 2, (4,), "relu", hidden_layer_sizes=(16, 8))
    # One stride-2 convolution: 4 channels of 4x4 = 64 features.
    linear = [m for m in net.encoder if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [
        (64, 16),
        (16, 8),
        (8, 2),
    ]
    linear = [m for m in net.decoder if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [
        (2, 8),
        (8, 16),
        (16, 64),
    ]
    code, output, _ = net(torch.rand(5, 64))
    assert code.shape == (5, 2) and output.shape == (5, 64)


@pytest.mark.parametrize("name", ["logistic", "tanh", "elu", "gelu"])
def test_inference_activation_ignores_position_in_the_tensor(name):
    # ATen finishes a tensor's tail with a scalar kernel; one element at a
    # time is all tail, the full tensor mostly vector blocks.
    act = ACTIVATIONS[name]().eval()
    x = torch.linspace(-8, 8, 4001)
    alone = torch.cat([act(x[i : i + 1]) for i in range(len(x))])
    assert act(x).dtype == torch.float32
    assert torch.equal(act(x), alone)


@pytest.mark.parametrize("name", ["logistic", "gelu"])
def test_training_activation_is_torchs_float32_kernel(name):
    act = ACTIVATIONS[name]().train()
    plain = {"logistic": torch.sigmoid, "gelu": torch.nn.functional.gelu}[name]
    x = torch.linspace(-8, 8, 4001, requires_grad=True)
    assert torch.equal(act(x), plain(x))
