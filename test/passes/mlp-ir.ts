// A two-layer MLP block and a final layer, before and after insert-qdq; shared by the quantization tests.

export const MLP_FP = `
  graph g(%x: f32[2,3,16]) {
    %0: f32[8,16] = param{name="blocks.0.mlp.fc1.weight"}()
    %1: f32[8] = param{name="blocks.0.mlp.fc1.bias"}()
    %2: f32[2,3,8] = linear(%x, %0, %1)
    %3: f32[2,3,8] = gelu{approx="tanh"}(%2)
    %4: f32[16,8] = param{name="blocks.0.mlp.fc2.weight"}()
    %5: f32[2,3,16] = linear(%3, %4)
    %6: f32[16,16] = param{name="final_layer.linear.weight"}()
    %7: f32[2,3,16] = linear(%5, %6)
    return %7
  }`;

// W4A6 with fc2 overridden to W8A8 (the lineage's hidden mixed precision); final_layer stays FP
export const MLP_QDQ = `
  graph g(%x: f32[2,3,16]) {
    %0: f32[2,3,1] = token_scale{bits=6}(%x)
    %1: i8[2,3,16] = quantize{bits=6}(%x, %0)
    %2: f32[2,3,16] = dequantize(%1, %0)
    %3: i4[8,16] = param{name="blocks.0.mlp.fc1.weight.q"}()
    %4: f32[8,1] = param{name="blocks.0.mlp.fc1.weight.scale"}()
    %5: f32[8,16] = dequantize(%3, %4)
    %6: f32[8] = param{name="blocks.0.mlp.fc1.bias"}()
    %7: f32[2,3,8] = linear(%2, %5, %6)
    %8: f32[2,3,8] = gelu{approx="tanh"}(%7)
    %9: f32[2,3,1] = token_scale{bits=8}(%8)
    %10: i8[2,3,8] = quantize{bits=8}(%8, %9)
    %11: f32[2,3,8] = dequantize(%10, %9)
    %12: i8[16,8] = param{name="blocks.0.mlp.fc2.weight.q"}()
    %13: f32[16,1] = param{name="blocks.0.mlp.fc2.weight.scale"}()
    %14: f32[16,8] = dequantize(%12, %13)
    %15: f32[2,3,16] = linear(%11, %14)
    %16: f32[16,16] = param{name="final_layer.linear.weight"}()
    %17: f32[2,3,16] = linear(%15, %16)
    return %17
  }`;
