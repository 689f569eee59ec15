import pytest
import torch
import torch.nn.functional as F

from scribblesup.models import MODELS, create_model, load_pretrained
from scribblesup.models.layers import BilinearUpsample


class ModelContract:
    """What every network must do; each model's test class sets ``name`` (one base, a few lines each)."""

    name = None
    num_classes = 5  # what the test asks for
    out_channels = 5  # what the network must then output

    @pytest.mark.parametrize("size, in_channels", [((37, 50), 1), ((64, 64), 3), ((65, 31), 3)])
    def test_forward_backward_any_size(self, size, in_channels):
        torch.manual_seed(0)
        model = create_model(self.name, num_classes=self.num_classes, in_channels=in_channels, width=0.125)
        x = torch.randn(2, in_channels, *size)
        y = model(x)
        assert y.shape == (2, self.out_channels, *size)
        y.logsumexp(1).mean().backward()
        grads = [p.grad for p in model.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)

    def test_width_scales_the_network(self):
        k = 3 if self.num_classes > 1 else 1
        small = sum(p.numel() for p in create_model(self.name, k, 3, width=0.125).parameters())
        large = sum(p.numel() for p in create_model(self.name, k, 3, width=0.25).parameters())
        assert 2.5 < large / small < 4.5


class TestFCN32s(ModelContract):
    name = "fcn32s"


class TestFCN16s(ModelContract):
    name = "fcn16s"


class TestFCN8s(ModelContract):
    name = "fcn8s"


class TestDeepLabLargeFOV(ModelContract):
    name = "deeplab-largefov"


class TestDeepLabASPP(ModelContract):
    name = "deeplab-aspp"


class TestSegNet(ModelContract):
    name = "segnet"


class TestUNet(ModelContract):
    name = "unet"


class TestDeconvNet(ModelContract):
    name = "deconvnet"


class TestHED(ModelContract):
    name = "hed"
    num_classes = 1
    out_channels = 6  # five side outputs and the fused one


def test_every_model_has_a_test_class():
    tested = {cls.name for cls in ModelContract.__subclasses__()}
    assert tested == set(MODELS)


def test_unknown_model_lists_valid_names():
    with pytest.raises(ValueError, match="valid: fcn32s, fcn16s, fcn8s, deeplab-largefov, deeplab-aspp, segnet, "
                                         "deconvnet, unet, hed"):
        create_model("pspnet", 3)


@pytest.mark.parametrize("factor", [2, 8, 32])
def test_transposed_conv_initialised_as_bilinear_interpolation(factor):
    up = BilinearUpsample(3, factor)
    x = torch.randn(1, 3, 6, 7)
    ours = up(x)
    ref = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    assert ours.shape == ref.shape
    # equal away from the border (zero padding vs edge clamping differ there)
    m = factor
    assert torch.allclose(ours[..., m:-m, m:-m], ref[..., m:-m, m:-m], atol=1e-5)
    assert not up.weight.requires_grad
    assert BilinearUpsample(3, factor, learnable=True).weight.requires_grad


def test_fcn_upsampling_frozen_by_default_and_skips_exist():
    fcn8 = create_model("fcn8s", 4, width=0.125)
    assert not fcn8.up_final.weight.requires_grad and not fcn8.up2_a.weight.requires_grad
    assert hasattr(fcn8, "score_pool3") and hasattr(fcn8, "score_pool4")
    assert not hasattr(create_model("fcn32s", 4, width=0.125), "score_pool4")
    assert create_model("fcn8s", 4, width=0.125, learnable_upsampling=True).up_final.weight.requires_grad


def test_deeplab_atrous_layers():
    lfov = create_model("deeplab-largefov", 4, width=0.125)
    assert [b[0].dilation for b in lfov.branches] == [(12, 12)]
    aspp = create_model("deeplab-aspp", 4, width=0.125)
    assert [b[0].dilation for b in aspp.branches] == [(6, 6), (12, 12), (18, 18), (24, 24)]
    convs = [m for m in lfov.encoder.block5 if isinstance(m, torch.nn.Conv2d)]
    assert all(c.dilation == (2, 2) for c in convs)
    # output stride 8: the branch input is 1/8 of the input size
    feats = {}
    lfov.branches[0].register_forward_hook(lambda m, i, o: feats.update(shape=i[0].shape))
    lfov(torch.zeros(1, 3, 64, 96))
    assert feats["shape"][-2:] == (8, 12)


def test_segnet_unpools_with_indices():
    net = create_model("segnet", 2, width=0.125).eval()
    x = torch.zeros(1, 3, 32, 32)
    x[..., 5, 9] = 10.0  # a single strong pixel: unpooling puts features back where the max was
    with torch.no_grad():
        h = net.encoder.block1(x)
        pooled, idx = F.max_pool2d(h, 2, return_indices=True)
        back = F.max_unpool2d(pooled, idx, 2, output_size=h.shape[-2:])
    assert (back != 0).float().mean() <= 0.25 + 1e-6


@pytest.mark.parametrize("name", ["fcn32s", "deconvnet"])
def test_load_pretrained_vgg_like_state_dict(tmp_path, capsys, name):
    # a VGG16-shaped state dict in torchvision's naming, at width 0.125 (8, 16, 32, 64, 64 channels)
    model = create_model(name, 4, width=0.125, batch_norm=False)
    source = {}
    convs = [m for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    for i, conv in enumerate(convs):
        source[f"features.{2 * i}.weight"] = torch.full_like(conv.weight, 0.5 + i)
        source[f"features.{2 * i}.bias"] = torch.full_like(conv.bias, -i)
    source["classifier.0.weight"] = torch.ones(model.fc6[0].weight.shape[0], model.fc6[0].weight[0].numel())
    source["classifier.6.weight"] = torch.ones(1000, 4096)
    torch.save(source, tmp_path / "vgg.pth")
    report = load_pretrained(model, tmp_path / "vgg.pth")
    assert len(report["matched"]) == 2 * len(convs) + 1
    assert report["skipped_source"] == ["classifier.6.weight"] and report["unmatched_target"] == []
    assert torch.all(convs[3].weight == 3.5) and torch.all(model.fc6[0].weight == 1)
    assert "loaded 27 tensors" in capsys.readouterr().out


def test_deconvnet_unpools_with_the_encoders_indices_and_loads_vgg():
    net = create_model("deconvnet", 2, width=0.125).eval()
    assert net.fc6[0].kernel_size == (7, 7) and net.fc7[0].kernel_size == (1, 1)
    assert isinstance(net.deconv6[0], torch.nn.ConvTranspose2d) and net.deconv6[0].kernel_size == (7, 7)
    deconvs = [m for d in net.decoders for m in d if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(deconvs) == 13  # as many as VGG16's convolutions, mirrored
    seen = []
    real_unpool = F.max_unpool2d

    def spy(h, idx, k, output_size=None):
        seen.append(idx.shape)
        return real_unpool(h, idx, k, output_size=output_size)

    import scribblesup.models.vgg as vgg

    vgg.F.max_unpool2d = spy
    try:
        net(torch.zeros(1, 3, 40, 48))
    finally:
        vgg.F.max_unpool2d = real_unpool
    assert [s[-2:] for s in seen] == [(2, 2), (3, 3), (5, 6), (10, 12), (20, 24)]
    model = create_model("fcn32s", 4, width=0.125, batch_norm=False)
    deconv = create_model("deconvnet", 4, width=0.125, batch_norm=False)
    assert [m.weight.shape for m in deconv.encoder.modules() if isinstance(m, torch.nn.Conv2d)] == \
        [m.weight.shape for m in model.encoder.modules() if isinstance(m, torch.nn.Conv2d)]
    assert deconv.fc6[0].weight.shape == model.fc6[0].weight.shape


def test_hed_side_outputs_and_fusion():
    net = create_model("hed", 1, 1, width=0.125)
    x = torch.randn(1, 1, 33, 45)
    y = net(x)
    assert y.shape == (1, 6, 33, 45)
    assert torch.allclose(y[:, 5], y[:, :5].mean(1), atol=1e-5)  # fusion starts as the mean of the sides
    with pytest.raises(ValueError, match="num_classes=1"):
        create_model("hed", 4)
