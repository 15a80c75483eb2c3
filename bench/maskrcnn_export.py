"""Exports a Mask R-CNN for bench/maskrcnn.js with torchvision's own ONNX export (opset 11) and
writes the same weights as safetensors:
  /usr/bin/python3 bench/maskrcnn_export.py small|r50 HEIGHT WIDTH OUT_PREFIX
small = the test fixture (test/fixtures/maskrcnn), r50 = maskrcnn_resnet50_fpn with random weights."""
import os, sys
import torch, torchvision
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'maskrcnn'))
import small_model as sm
from torchvision.ops.misc import FrozenBatchNorm2d

kind, h, w, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.manual_seed(0)
if kind == 'small':
    model = sm.build(norm_layer=FrozenBatchNorm2d)
    model.load_state_dict(sm.read_safetensors(os.path.join(os.path.dirname(sm.__file__), 'small-maskrcnn.safetensors')))
else:
    model = torchvision.models.detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
model.eval()
sm.write_safetensors(prefix + '.safetensors', sm.frozen_state(model))
img = torch.rand(3, h, w)
torch.onnx.export(model, ([img],), prefix + '.onnx', opset_version=11, input_names=['image'],
                  output_names=['boxes', 'labels', 'scores', 'masks'])
