"""Check ANSWERS["4.3"] and ANSWERS["5.4"] of solution.py against the real modules.

    python verify_answers.py

4.3: forward hooks on the five convolutions (Conv2d/ConvTranspose2d) of PoolUpsampleNet
record, per layer, weights = k*k*C_in*C_out, outputs = output activations per image and
connections = k*k*C_in * outputs; the totals are compared with the answer expressions at
several (NIC, NF, NC) points, with 32x32 input (plain keys) and 64x64 input (`_2x` keys).
5.4: builds ConvTransposeNet-style layers with the answered paddings for kernels 4 and 5
and checks every tensor shape of Figure 1b; also checks that the models keep Figure 1's
shapes for kernels 3 and 5.
Also prints block output shapes and parameter counts of the three models.
"""
import itertools

import torch
import torch.nn as nn

from solution_loader import load_solution

S = load_solution()
CONV = (nn.Conv2d, nn.ConvTranspose2d)


def measured_counts(model, size):
    rows = []

    def hook(m, inp, out):
        k = m.kernel_size[0] * m.kernel_size[1]
        cin, cout = m.in_channels, m.out_channels
        outputs = out[0].numel()
        rows.append((k * cin * cout, outputs, k * cin * outputs))

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, CONV)]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, model.conv1[0].in_channels, size, size))
    for h in hs:
        h.remove()
    assert len(rows) == 5, rows
    return [sum(r[i] for r in rows) for i in range(3)]


def check_43():
    ans = S.ANSWERS["4.3"]
    pts = list(itertools.product([1, 3], [1, 8, 32], [2, 24])) + [(2, 5, 7)]
    for NIC, NF, NC in pts:
        m = S.PoolUpsampleNet(3, NF, NC, NIC)
        env = {"NIC": NIC, "NF": NF, "NC": NC}
        for size, suffix in ((32, ""), (64, "_2x")):
            got = measured_counts(m, size)
            exp = [eval(ans[k + suffix], {}, env) for k in ("weights", "outputs", "connections")]
            assert got == exp, (NIC, NF, NC, size, got, exp)
    print(f"4.3 OK at {len(pts)} (NIC,NF,NC) points, 32x32 and 64x64:")
    for k, v in ans.items():
        print(f"  {k:15s} {v}")


def check_54():
    ans = S.ANSWERS["5.4"]
    NIC, NF, NC = 1, 8, 24
    for k, (p, tp, op) in ans.items():
        x = torch.zeros(2, NIC, 32, 32)
        x = nn.Conv2d(NIC, NF, k, stride=2, padding=p)(x); assert x.shape[-2:] == (16, 16), (k, x.shape)
        x = nn.Conv2d(NF, 2 * NF, k, stride=2, padding=p)(x); assert x.shape[-2:] == (8, 8), (k, x.shape)
        x = nn.ConvTranspose2d(2 * NF, NF, k, stride=2, padding=tp, output_padding=op)(x)
        assert x.shape[-2:] == (16, 16), (k, x.shape)
        x = nn.ConvTranspose2d(NF, NC, k, stride=2, padding=tp, output_padding=op)(x)
        assert x.shape[-2:] == (32, 32), (k, x.shape)
    print("5.4 OK:", ans)


def block_report(NIC=1, NF=32, NC=24, kernel=3):
    for cls in (S.PoolUpsampleNet, S.ConvTransposeNet, S.UNet):
        m = cls(kernel, NF, NC, NIC)
        shapes = {}
        hs = [getattr(m, n).register_forward_hook(lambda mod, i, o, n=n: shapes.__setitem__(n, tuple(o.shape)))
              for n in ("conv1", "conv2", "upconv1", "upconv2", "finalconv")]
        m(torch.zeros(2, NIC, 32, 32))
        for h in hs:
            h.remove()
        n = sum(p.numel() for p in m.parameters() if p.requires_grad)
        print(f"{cls.__name__} (kernel={kernel}, NF={NF}, NC={NC}, NIC={NIC}): {n} trainable parameters")
        for name, shp in shapes.items():
            print(f"  {name:10s} {shp}")
        if kernel == 3:
            assert shapes == {"conv1": (2, NF, 16, 16), "conv2": (2, 2 * NF, 8, 8), "upconv1": (2, NF, 16, 16),
                              "upconv2": (2, NC, 32, 32), "finalconv": (2, NC, 32, 32)}, shapes


if __name__ == "__main__":
    check_43()
    check_54()
    block_report()
    for cls in (S.ConvTransposeNet, S.UNet):   # kernel 5 keeps the shapes with the 5.4 rule
        assert cls(5, 8, 24, 1)(torch.zeros(1, 1, 32, 32)).shape == (1, 24, 32, 32)
    print("kernel 5 ConvTransposeNet/UNet keep 32x32 output: OK")
