// genloss-native: TF.js-wasm convolution, matrix-product and element-wise kernels run natively,
// by XNNPACK and by this file's loops, multi-threaded through pthreadpool. Tensors are read and
// written in place in the wasm heap: every call takes the heap's ArrayBuffer and byte offsets
// into it, and allocates nothing there, so the heap cannot grow (and move) during a call. Layouts
// are TF.js's: activations NHWC, filters [kh, kw, in, out], matrices row-major.
//
// XNNPACK clamps every output to [output_min, output_max] with max/min instructions that turn NaN
// into a bound (here ±∞), so a NaN the true result holds comes out as ±∞: every run returns
// whether its output is finite, and the caller hands the rare non-finite case to the wasm kernel
// (what TF.js gives without this addon). A finite output is the true one: a NaN or ±∞ that any
// output reads leaves it non-finite.
//
// XNNPACK has no backward operators, so:
// - the input gradient (Conv2DBackpropInput) is XNNPACK's deconvolution with the filter
//   transposed to [in, kh, kw, out];
// - the filter gradient (Conv2DBackpropFilter) is, for output or input channels a multiple of 16
//   (or few pixels), summed directly by this file's own vector loops (filter_grad_direct); else, for
//   patches kh·kw·in up to 1024 and 32 or more output channels, the matrix product
//   dyᵀ · im2col(x) (XNNPACK's fully-connected operator); otherwise a forward convolution of x
//   viewed as [in, H, W, batch] with dy viewed as the filter [out, oh, ow, batch], dilated by the
//   stride (the formulation of src/backends/wasm/conv.ts).
//
// The element-wise kernels (elementwise, sumRows) are plain loops the compiler vectorises for
// the CPU it runs on; they write every output element, so they return nothing.
//
// The matrix product (BatchMatMul, _FusedMatMul) is XNNPACK's fully-connected operator, one per
// batch entry of b (this XNNPACK has no batched matrix product).
#define NAPI_VERSION 8
#include <float.h>
#include <math.h>
#include <node_api.h>
#include <pthreadpool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xnnpack.h>

static pthreadpool_t pool = NULL;

// Every operator and parallel loop sends the pool's workers to sleep when it ends
// (XNN_FLAG_YIELD_WORKERS, PTHREADPOOL_FLAG_YIELD_WORKERS) instead of letting them spin for the
// next one: between two kernels TF.js runs JavaScript, and on a machine shared with other work a
// spinning worker takes a core the main thread or another process needs (the matting config with
// two threads at load 7-12: 0.10 steps/s spinning, 0.17 yielding).
#define OP_FLAGS XNN_FLAG_YIELD_WORKERS
#define LOOP_FLAGS PTHREADPOOL_FLAG_YIELD_WORKERS

// Filter gradients with patches kh·kw·ci up to MAX_IM2COL_PATCH and at least MIN_IM2COL_OUT
// output channels take the im2col formulation.
#define MAX_IM2COL_PATCH 1024
#define MIN_IM2COL_OUT 32

enum op_kind { OP_CONV = 0, OP_DECONV = 1 };

// An XNNPACK operator with its packed weights, and the sizes that bound its reads and writes.
typedef struct {
  xnn_operator_t op;
  enum op_kind kind;
  uint32_t kh, kw, ci, co, pt, pr, pb, pl, sh, sw, dh, dw;
} packed_op;

#define CHECK_NAPI(call)                                                   \
  do {                                                                     \
    if ((call) != napi_ok) {                                               \
      napi_throw_error(env, NULL, "genloss native: N-API call failed: " #call); \
      return NULL;                                                         \
    }                                                                      \
  } while (0)

static napi_value throw_status(napi_env env, const char* what, enum xnn_status status) {
  char message[160];
  snprintf(message, sizeof message, "genloss native: %s failed (XNNPACK status %d)", what, (int)status);
  napi_throw_error(env, NULL, message);
  return NULL;
}

// Reads `count` arguments: args[0] is the heap's ArrayBuffer (or an external for run/release),
// the rest are non-negative integers.
static int read_args(napi_env env, napi_callback_info info, size_t count, napi_value* args,
                     uint32_t* numbers, size_t first_number) {
  size_t argc = count;
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc != count) {
    napi_throw_type_error(env, NULL, "genloss native: wrong number of arguments");
    return 0;
  }
  for (size_t i = first_number; i < count; i++) {
    if (napi_get_value_uint32(env, args[i], &numbers[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "genloss native: expected a non-negative integer argument");
      return 0;
    }
  }
  return 1;
}

static float* heap_floats(napi_env env, napi_value buffer, size_t* length) {
  void* data = NULL;
  if (napi_get_arraybuffer_info(env, buffer, &data, length) != napi_ok) {
    napi_throw_type_error(env, NULL, "genloss native: expected the wasm heap's ArrayBuffer");
    return NULL;
  }
  return (float*)data;
}

// The region [offset, offset + bytes·count) of the heap, for elements of `bytes` bytes, or NULL
// (with a RangeError) when it is misaligned or outside the heap.
static void* region_of(napi_env env, void* heap, size_t heap_bytes, uint32_t offset, size_t count,
                       size_t bytes) {
  if (offset % bytes != 0 || (size_t)offset > heap_bytes || count > (heap_bytes - offset) / bytes) {
    napi_throw_range_error(env, NULL, "genloss native: tensor outside the wasm heap");
    return NULL;
  }
  return (uint8_t*)heap + offset;
}

// The float32 region [offset, offset + 4·count) of the heap (region_of).
static float* region(napi_env env, float* heap, size_t heap_bytes, uint32_t offset, size_t count) {
  return region_of(env, heap, heap_bytes, offset, count, sizeof(float));
}

// Whether no float of values[0, count) is NaN or ±Inf; vectorised for the CPU it runs on.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) static int
finite_floats(const float* values, size_t count) {
  int finite = 1;
  for (size_t i = 0; i < count; i++) finite &= fabsf(values[i]) <= FLT_MAX;
  return finite;
}

static napi_value boolean(napi_env env, int value) {
  napi_value result;
  CHECK_NAPI(napi_get_boolean(env, value != 0, &result));
  return result;
}

static void finalize_op(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  packed_op* p = data;
  if (p->op != NULL) xnn_delete_operator(p->op);
  free(p);
}

static napi_value wrap_op(napi_env env, packed_op* p) {
  napi_value external;
  if (napi_create_external(env, p, finalize_op, NULL, &external) != napi_ok) {
    finalize_op(env, p, NULL);
    napi_throw_error(env, NULL, "genloss native: could not wrap the operator");
    return NULL;
  }
  return external;
}

static packed_op* unwrap_op(napi_env env, napi_value value, enum op_kind kind) {
  void* data = NULL;
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, value, &data) != napi_ok || data == NULL ||
      ((packed_op*)data)->kind != kind || ((packed_op*)data)->op == NULL) {
    napi_throw_type_error(env, NULL, "genloss native: expected a live operator of the right kind");
    return NULL;
  }
  return data;
}

// createConv(heap, filterOffset, kh, kw, ci, co, padTop, padRight, padBottom, padLeft,
//            strideH, strideW, dilationH, dilationW, hasBias, biasOffset, depthwise): a
// convolution with the filter [kh, kw, ci, co] at filterOffset packed into it, and the bias at
// biasOffset if hasBias is 1. With depthwise 1, co is the channel multiplier: each input channel
// c has its own co filters, output channel c·co + m (TF.js's depthwiseConv2d; XNNPACK's
// depthwise filter layout [kh, kw, ci·co] is TF.js's, read as it is).
static napi_value create_conv(napi_env env, napi_callback_info info) {
  napi_value args[17];
  uint32_t n[17];
  if (!read_args(env, info, 17, args, n, 1)) return NULL;
  size_t heap_bytes;
  float* heap = heap_floats(env, args[0], &heap_bytes);
  if (heap == NULL) return NULL;
  const uint32_t kh = n[2], kw = n[3], ci = n[4], co = n[5];
  const int depthwise = n[16] != 0;
  const uint32_t out_channels = depthwise ? ci * co : co;
  const size_t taps = (size_t)kh * kw;
  const float* w = region(env, heap, heap_bytes, n[1], taps * ci * co);
  if (w == NULL) return NULL;
  const float* bias = n[14] == 0 ? NULL : region(env, heap, heap_bytes, n[15], out_channels);
  if (n[14] != 0 && bias == NULL) return NULL;
  float* ohwi = depthwise ? NULL : malloc(taps * ci * co * sizeof(float) + 1);
  if (!depthwise && ohwi == NULL) return throw_status(env, "allocating the filter", xnn_status_out_of_memory);
  if (!depthwise)
    for (size_t t = 0; t < taps; t++)
      for (uint32_t c = 0; c < ci; c++)
        for (uint32_t o = 0; o < co; o++) ohwi[((size_t)o * taps + t) * ci + c] = w[(t * ci + c) * co + o];
  packed_op* p = calloc(1, sizeof(packed_op));
  if (p == NULL) {
    free(ohwi);
    return throw_status(env, "allocating the operator", xnn_status_out_of_memory);
  }
  *p = (packed_op){NULL, OP_CONV, kh, kw, ci, out_channels, n[6], n[7], n[8], n[9], n[10], n[11], n[12], n[13]};
  enum xnn_status status =
      depthwise ? xnn_create_convolution2d_nhwc_f32(p->pt, p->pr, p->pb, p->pl, kh, kw, p->sh, p->sw, p->dh, p->dw,
                                                    ci, 1, co, ci, out_channels, w, bias, -INFINITY, INFINITY,
                                                    OP_FLAGS | XNN_FLAG_DEPTHWISE_CONVOLUTION, &p->op)
                : xnn_create_convolution2d_nhwc_f32(p->pt, p->pr, p->pb, p->pl, kh, kw, p->sh, p->sw, p->dh, p->dw,
                                                    1, ci, co, ci, co, ohwi, bias, -INFINITY, INFINITY, OP_FLAGS,
                                                    &p->op);
  free(ohwi);
  if (status != xnn_status_success) {
    free(p);
    return throw_status(env, "xnn_create_convolution2d_nhwc_f32", status);
  }
  return wrap_op(env, p);
}

static size_t conv_out_size(uint32_t in, uint32_t pad_before, uint32_t pad_after, uint32_t k,
                            uint32_t stride, uint32_t dilation) {
  const size_t padded = (size_t)in + pad_before + pad_after;
  const size_t span = ((size_t)k - 1) * dilation + 1;
  return padded < span ? 0 : (padded - span) / stride + 1;
}

// runConv(op, heap, batch, height, width, xOffset, yOffset): y = conv(x), NHWC; whether y is
// finite.
static napi_value run_conv(napi_env env, napi_callback_info info) {
  napi_value args[7];
  uint32_t n[7];
  if (!read_args(env, info, 7, args, n, 2)) return NULL;
  packed_op* p = unwrap_op(env, args[0], OP_CONV);
  if (p == NULL) return NULL;
  size_t heap_bytes;
  float* heap = heap_floats(env, args[1], &heap_bytes);
  if (heap == NULL) return NULL;
  const uint32_t batch = n[2], h = n[3], w = n[4];
  const size_t oh = conv_out_size(h, p->pt, p->pb, p->kh, p->sh, p->dh);
  const size_t ow = conv_out_size(w, p->pl, p->pr, p->kw, p->sw, p->dw);
  const float* x = region(env, heap, heap_bytes, n[5], (size_t)batch * h * w * p->ci);
  float* y = x == NULL ? NULL : region(env, heap, heap_bytes, n[6], (size_t)batch * oh * ow * p->co);
  if (y == NULL) return NULL;
  enum xnn_status status = xnn_setup_convolution2d_nhwc_f32(p->op, batch, h, w, x, y, pool);
  if (status != xnn_status_success) return throw_status(env, "xnn_setup_convolution2d_nhwc_f32", status);
  status = xnn_run_operator(p->op, pool);
  if (status != xnn_status_success) return throw_status(env, "xnn_run_operator (convolution)", status);
  return boolean(env, finite_floats(y, (size_t)batch * oh * ow * p->co));
}

// createDeconv(heap, filterOffset, kh, kw, ci, co, padTop, padRight, padBottom, padLeft,
//              strideH, strideW, depthwise): the input gradient of the convolution with the
// filter [kh, kw, ci, co] (a deconvolution from co to ci channels, its kernel [ci, kh, kw, co]);
// with depthwise 1, of the depthwise convolution with the multiplier co (ci groups of co to 1).
static napi_value create_deconv(napi_env env, napi_callback_info info) {
  napi_value args[13];
  uint32_t n[13];
  if (!read_args(env, info, 13, args, n, 1)) return NULL;
  const int depthwise = n[12] != 0;
  size_t heap_bytes;
  float* heap = heap_floats(env, args[0], &heap_bytes);
  if (heap == NULL) return NULL;
  const uint32_t kh = n[2], kw = n[3], ci = n[4], co = n[5];
  const size_t taps = (size_t)kh * kw;
  const float* w = region(env, heap, heap_bytes, n[1], taps * ci * co);
  if (w == NULL) return NULL;
  float* kernel = malloc(taps * ci * co * sizeof(float) + 1);
  if (kernel == NULL) return throw_status(env, "allocating the filter", xnn_status_out_of_memory);
  for (size_t t = 0; t < taps; t++)
    for (uint32_t c = 0; c < ci; c++)
      memcpy(kernel + ((size_t)c * taps + t) * co, w + (t * ci + c) * co, co * sizeof(float));
  packed_op* p = calloc(1, sizeof(packed_op));
  if (p == NULL) {
    free(kernel);
    return throw_status(env, "allocating the operator", xnn_status_out_of_memory);
  }
  // A depthwise deconvolution is grouped: group c reads dy's co channels c·co + m and writes dx's
  // channel c.
  const uint32_t dy_channels = depthwise ? ci * co : co;
  *p = (packed_op){NULL, OP_DECONV, kh, kw, ci, dy_channels, n[6], n[7], n[8], n[9], n[10], n[11], 1, 1};
  enum xnn_status status = xnn_create_deconvolution2d_nhwc_f32(
      p->pt, p->pr, p->pb, p->pl, kh, kw, p->sh, p->sw, 1, 1, depthwise ? ci : 1, co, depthwise ? 1 : ci,
      dy_channels, ci, kernel, NULL, -INFINITY, INFINITY, OP_FLAGS, &p->op);
  free(kernel);
  if (status != xnn_status_success) {
    free(p);
    return throw_status(env, "xnn_create_deconvolution2d_nhwc_f32", status);
  }
  return wrap_op(env, p);
}

// runDeconv(op, heap, batch, dyHeight, dyWidth, dxHeight, dxWidth, dyOffset, dxOffset):
// dx = the input gradient for dy, NHWC; whether dx is finite.
static napi_value run_deconv(napi_env env, napi_callback_info info) {
  napi_value args[9];
  uint32_t n[9];
  if (!read_args(env, info, 9, args, n, 2)) return NULL;
  packed_op* p = unwrap_op(env, args[0], OP_DECONV);
  if (p == NULL) return NULL;
  size_t heap_bytes;
  float* heap = heap_floats(env, args[1], &heap_bytes);
  if (heap == NULL) return NULL;
  const uint32_t batch = n[2], oh = n[3], ow = n[4], h = n[5], w = n[6];
  // The deconvolution's natural size is s·(oh − 1) + k − pads; the adjustment (< s) adds the
  // rows and columns the forward windows never read, whose gradient is zero.
  const int64_t natural_h = (int64_t)p->sh * (oh - 1) + p->kh - p->pt - p->pb;
  const int64_t natural_w = (int64_t)p->sw * (ow - 1) + p->kw - p->pl - p->pr;
  const int64_t adj_h = (int64_t)h - natural_h, adj_w = (int64_t)w - natural_w;
  if (oh == 0 || ow == 0 || adj_h < 0 || adj_w < 0 || adj_h >= p->sh || adj_w >= p->sw) {
    napi_throw_range_error(env, NULL, "genloss native: input-gradient sizes do not fit the convolution");
    return NULL;
  }
  const float* dy = region(env, heap, heap_bytes, n[7], (size_t)batch * oh * ow * p->co);
  float* dx = dy == NULL ? NULL : region(env, heap, heap_bytes, n[8], (size_t)batch * h * w * p->ci);
  if (dx == NULL) return NULL;
  enum xnn_status status = xnn_setup_deconvolution2d_nhwc_f32(
      p->op, batch, oh, ow, (uint32_t)adj_h, (uint32_t)adj_w, dy, dx, pool);
  if (status != xnn_status_success) return throw_status(env, "xnn_setup_deconvolution2d_nhwc_f32", status);
  status = xnn_run_operator(p->op, pool);
  if (status != xnn_status_success) return throw_status(env, "xnn_run_operator (deconvolution)", status);
  return boolean(env, finite_floats(dx, (size_t)batch * h * w * p->ci));
}

// The filter-gradient problem: dW[kh, kw, ci, co] from x [batch, h, w, ci], dy [batch, oh, ow, co].
typedef struct {
  const float* x;
  const float* dy;
  float* dw;
  uint32_t batch, h, w, ci, oh, ow, co, kh, kw, sh, sw, pt, pl;
} filter_grad;

// The float offset in x of the input pixel that tap (y, t) of output pixel (b, i, j) reads, or
// −1 in the padding.
static int64_t tap_input(const filter_grad* g, size_t b, size_t i, size_t j, uint32_t y, uint32_t t) {
  const int64_t r = (int64_t)i * g->sh + y - g->pt, c = (int64_t)j * g->sw + t - g->pl;
  if (r < 0 || r >= g->h || c < 0 || c >= g->w) return -1;
  return (int64_t)(((b * g->h + (size_t)r) * g->w + (size_t)c) * g->ci);
}

// One im2col chunk: row m of `cols` is the input patch [kh, kw, ci] under output pixel m0 + m
// (zeros outside the input), the rows of the matrix product of the filter gradient.
typedef struct {
  const filter_grad* g;
  float* cols;
  size_t m0;
} im2col_task;

static void im2col_row(void* context, size_t m) {
  const im2col_task* k = context;
  const filter_grad* g = k->g;
  const size_t pixel = k->m0 + m;
  const size_t b = pixel / ((size_t)g->oh * g->ow), i = pixel / g->ow % g->oh, j = pixel % g->ow;
  float* to = k->cols + m * (size_t)g->kh * g->kw * g->ci;
  for (uint32_t y = 0; y < g->kh; y++)
    for (uint32_t t = 0; t < g->kw; t++, to += g->ci) {
      const int64_t from = tap_input(g, b, i, j, y, t);
      if (from < 0)
        memset(to, 0, g->ci * sizeof(float));
      else
        memcpy(to, g->x + from, g->ci * sizeof(float));
    }
}

// Row o of dyᵀ: dyt[o, m] = dy[m, o], rows `stride` apart.
typedef struct {
  const float* dy;
  float* dyt;
  size_t pixels, stride;
  uint32_t co;
} transpose_task;

static void transpose_row(void* context, size_t o) {
  const transpose_task* k = context;
  float* to = k->dyt + o * k->stride;
  for (size_t m = 0; m < k->pixels; m++) to[m] = k->dy[m * k->co + o];
}

// dW = dyᵀ · im2col(x) over every output pixel, in chunks of pixels: XNNPACK's fully-connected
// operator with im2col(x) as its weights. Chunks of 256–2048 pixels keep im2col near 2 MB, in the
// L2 cache (one chunk of all 4096 pixels, 16 MB, was 3–14× slower on the benchmark
// discriminator's 64→128 layer, one thread, under load), and
// dyᵀ's rows are padded so that their stride is no multiple of 4 KiB (rows 2ⁿ pixels apart share
// cache sets). Sets *what on failure.
static enum xnn_status filter_grad_im2col(const filter_grad* g, const char** what) {
  const size_t patch = (size_t)g->kh * g->kw * g->ci;
  const size_t pixels = (size_t)g->batch * g->oh * g->ow;
  const size_t stride = (pixels + 15) / 16 * 16 + 16;
  const uint32_t co = g->co;
  size_t chunk = ((size_t)1 << 19) / patch;
  if (chunk < 256) chunk = 256;
  if (chunk > 2048) chunk = 2048;
  if (chunk > pixels) chunk = pixels;
  float* cols = malloc(chunk * patch * sizeof(float));
  float* dyt = malloc(stride * co * sizeof(float));
  float* part = malloc((size_t)co * patch * sizeof(float));
  enum xnn_status status = xnn_status_out_of_memory;
  *what = "allocating the filter-gradient buffers";
  if (cols != NULL && dyt != NULL && part != NULL) {
    status = xnn_status_success;
    memset(g->dw, 0, patch * co * sizeof(float));
    transpose_task transpose = {g->dy, dyt, pixels, stride, co};
    pthreadpool_parallelize_1d(pool, transpose_row, &transpose, co, LOOP_FLAGS);
  }
  for (size_t m0 = 0; status == xnn_status_success && m0 < pixels; m0 += chunk) {
    const size_t count = pixels - m0 < chunk ? pixels - m0 : chunk;
    im2col_task im2col = {g, cols, m0};
    pthreadpool_parallelize_1d(pool, im2col_row, &im2col, count, LOOP_FLAGS);
    // part[co, P] = dyᵀ[co, count] · cols[count, P].
    xnn_operator_t op = NULL;
    *what = "xnn_create_fully_connected_nc_f32 (filter gradient)";
    status = xnn_create_fully_connected_nc_f32(count, patch, stride, patch, cols, NULL, -INFINITY,
                                               INFINITY, XNN_FLAG_TRANSPOSE_WEIGHTS | OP_FLAGS, &op);
    if (status == xnn_status_success) {
      *what = "xnn_setup_fully_connected_nc_f32 (filter gradient)";
      status = xnn_setup_fully_connected_nc_f32(op, co, dyt + m0, part, pool);
    }
    if (status == xnn_status_success) {
      *what = "xnn_run_operator (filter gradient)";
      status = xnn_run_operator(op, pool);
    }
    if (op != NULL) xnn_delete_operator(op);
    if (status == xnn_status_success)
      for (uint32_t o = 0; o < co; o++)
        for (size_t q = 0; q < patch; q++) g->dw[q * co + o] += part[(size_t)o * patch + q];
  }
  free(cols);
  free(dyt);
  free(part);
  return status;
}

// dW as a convolution of x viewed as [ci, rows, cols, batch] with dy viewed as the filter
// [co, oh, ow, batch], dilated by the stride; its output [ci, kh, kw, co] is transposed. Rows
// (columns) of x no window reads are cropped first, as XNNPACK takes no negative padding.
static enum xnn_status filter_grad_conv(const filter_grad* g, const char** what) {
  const int64_t rows_read = (int64_t)g->kh + (int64_t)g->sh * ((int64_t)g->oh - 1) - g->pt;
  const int64_t cols_read = (int64_t)g->kw + (int64_t)g->sw * ((int64_t)g->ow - 1) - g->pl;
  const int64_t rows = rows_read < g->h ? rows_read : g->h;
  const int64_t cols = cols_read < g->w ? cols_read : g->w;
  const size_t dw_size = (size_t)g->kh * g->kw * g->ci * g->co;
  if (rows <= 0 || cols <= 0) {
    memset(g->dw, 0, dw_size * sizeof(float));
    return xnn_status_success;
  }
  const uint32_t batch = g->batch, ci = g->ci, co = g->co;
  const size_t taps = (size_t)g->oh * g->ow;
  float* xt = malloc((size_t)ci * rows * cols * batch * sizeof(float));
  float* filter = malloc((size_t)co * taps * batch * sizeof(float));
  float* out = malloc(dw_size * sizeof(float));
  xnn_operator_t op = NULL;
  enum xnn_status status = xnn_status_out_of_memory;
  *what = "allocating the filter-gradient buffers";
  if (xt != NULL && filter != NULL && out != NULL) {
    for (uint32_t b = 0; b < batch; b++)
      for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
          const float* from = g->x + (((size_t)b * g->h + i) * g->w + j) * ci;
          for (uint32_t c = 0; c < ci; c++) xt[(((size_t)c * rows + i) * cols + j) * batch + b] = from[c];
        }
    for (uint32_t b = 0; b < batch; b++)
      for (size_t t = 0; t < taps; t++) {
        const float* from = g->dy + ((size_t)b * taps + t) * co;
        for (uint32_t o = 0; o < co; o++) filter[((size_t)o * taps + t) * batch + b] = from[o];
      }
    *what = "xnn_create_convolution2d_nhwc_f32 (filter gradient)";
    status = xnn_create_convolution2d_nhwc_f32(
        g->pt, (uint32_t)(cols_read - cols), (uint32_t)(rows_read - rows), g->pl, g->oh, g->ow, 1, 1,
        g->sh, g->sw, 1, batch, co, batch, co, filter, NULL, -INFINITY, INFINITY, OP_FLAGS, &op);
    if (status == xnn_status_success) {
      *what = "xnn_setup_convolution2d_nhwc_f32 (filter gradient)";
      status = xnn_setup_convolution2d_nhwc_f32(op, ci, (size_t)rows, (size_t)cols, xt, out, pool);
    }
    if (status == xnn_status_success) {
      *what = "xnn_run_operator (filter gradient)";
      status = xnn_run_operator(op, pool);
    }
    if (status == xnn_status_success) {
      const size_t kernel_taps = (size_t)g->kh * g->kw;
      for (uint32_t c = 0; c < ci; c++)
        for (size_t t = 0; t < kernel_taps; t++)
          memcpy(g->dw + (t * ci + c) * co, out + ((size_t)c * kernel_taps + t) * co, co * sizeof(float));
    }
  }
  if (op != NULL) xnn_delete_operator(op);
  free(xt);
  free(filter);
  free(out);
  return status;
}

// The direct formulation: dW[y, t, c, o] = Σ over output pixels m of x[input pixel of m under tap
// (y, t), c] · dy[m, o], tile by tile with the tile's sums held in vector registers, reading x and
// dy in place (no im2col copy, no weight packing). Pixels go in chunks of DIRECT_CHUNK whose x and
// dy stay in the L2 cache while every tile of every tap reads them. Tiles are DIRECT_TILE_IN input
// by 32 output channels (24 sixteen-float sums and two of dy: 26 of AVX-512's 32 registers).
#define DIRECT_CHUNK 256
#define DIRECT_TILE_IN 12
#define DIRECT_TILE_OUT_BY_INPUT 8
// Output channels past the last multiple of 16 go one float at a time: worth it only for few
// pixel-taps (batch · oh · ow · kh · kw).
#define DIRECT_MAX_SCALAR_TAPS 65536

typedef float f32x16 __attribute__((vector_size(64), aligned(4)));

typedef struct {
  const filter_grad* g;
  // [taps, count]: the float offset in x of the pixel each tap reads, -1 in the padding (a wasm
  // heap holds under 2^30 floats, so every offset fits).
  const int32_t* offsets;
  size_t m0, count;
  uint32_t in_tiles, out_tiles;
} direct_task;

// dw[c, o] += Σ_k x[offsets[k] + c] · dy[k, o] for c < cn, o < 16·nv (dw rows co apart).
static inline __attribute__((always_inline)) void direct_tile(const float* x, const int32_t* offsets,
                                                               const float* dy, size_t count, uint32_t co,
                                                               float* dw, const int cn, const int nv) {
  f32x16 sums[DIRECT_TILE_IN][2];
  for (int c = 0; c < cn; c++)
    for (int v = 0; v < nv; v++) memcpy(&sums[c][v], dw + (size_t)c * co + 16 * v, sizeof(f32x16));
  for (size_t k = 0; k < count; k++) {
    if (offsets[k] < 0) continue;
    const float* xk = x + offsets[k];
    f32x16 d[2];
    for (int v = 0; v < nv; v++) memcpy(&d[v], dy + k * co + 16 * v, sizeof(f32x16));
    for (int c = 0; c < cn; c++)
      for (int v = 0; v < nv; v++) sums[c][v] += xk[c] * d[v];
  }
  for (int c = 0; c < cn; c++)
    for (int v = 0; v < nv; v++) memcpy(dw + (size_t)c * co + 16 * v, &sums[c][v], sizeof(f32x16));
}

// One tile of one tap over the task's chunk of pixels.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) static void
direct_item(void* context, size_t item) {
  const direct_task* k = context;
  const filter_grad* g = k->g;
  const size_t tiles = (size_t)k->in_tiles * k->out_tiles, tap = item / tiles;
  const uint32_t c0 = (uint32_t)(item % tiles / k->out_tiles) * DIRECT_TILE_IN;
  const uint32_t o0 = (uint32_t)(item % k->out_tiles) * 32;
  const int cn = (int)(g->ci - c0 < DIRECT_TILE_IN ? g->ci - c0 : DIRECT_TILE_IN);
  const uint32_t on = g->co - o0 < 32 ? g->co - o0 : 32;
  const float* x = g->x + c0;
  const int32_t* offsets = k->offsets + tap * k->count;
  const float* dy = g->dy + k->m0 * g->co + o0;
  float* dw = g->dw + (tap * g->ci + c0) * g->co + o0;
  const int nv = (int)on / 16;
#define DIRECT_CASE(n)                                          \
  case n:                                                       \
    if (nv == 2)                                                \
      direct_tile(x, offsets, dy, k->count, g->co, dw, n, 2);   \
    else                                                        \
      direct_tile(x, offsets, dy, k->count, g->co, dw, n, 1);   \
    break;
  if (nv > 0) {
    switch (cn) {
      DIRECT_CASE(1) DIRECT_CASE(2) DIRECT_CASE(3) DIRECT_CASE(4) DIRECT_CASE(5) DIRECT_CASE(6)
      DIRECT_CASE(7) DIRECT_CASE(8) DIRECT_CASE(9) DIRECT_CASE(10) DIRECT_CASE(11) DIRECT_CASE(12)
    }
  }
#undef DIRECT_CASE
  // Output channels past the last multiple of 16, one float at a time.
  for (size_t m = 0; m < k->count; m++) {
    if (offsets[m] < 0) continue;
    for (int c = 0; c < cn; c++)
      for (uint32_t o = 16 * (uint32_t)nv; o < on; o++)
        dw[(size_t)c * g->co + o] += x[offsets[m] + c] * dy[m * g->co + o];
  }
}

// dw[c, o] += Σ_k x[offsets[k] + c] · dy[k, o] for c < 16·nv, o < on (dw rows co apart), with
// the sums' vectors along c: for few output channels and input channels a multiple of 16.
static inline __attribute__((always_inline)) void direct_tile_by_input(
    const float* x, const int32_t* offsets, const float* dy, size_t count, uint32_t co, float* dw,
    const int nv, const int on) {
  f32x16 sums[DIRECT_TILE_OUT_BY_INPUT][2];
  float lanes[16];
  for (int o = 0; o < on; o++)
    for (int v = 0; v < nv; v++) {
      for (int l = 0; l < 16; l++) lanes[l] = dw[(size_t)(16 * v + l) * co + o];
      memcpy(&sums[o][v], lanes, sizeof(f32x16));
    }
  for (size_t k = 0; k < count; k++) {
    if (offsets[k] < 0) continue;
    f32x16 xs[2];
    for (int v = 0; v < nv; v++) memcpy(&xs[v], x + offsets[k] + 16 * v, sizeof(f32x16));
    for (int o = 0; o < on; o++)
      for (int v = 0; v < nv; v++) sums[o][v] += dy[k * co + o] * xs[v];
  }
  for (int o = 0; o < on; o++)
    for (int v = 0; v < nv; v++) {
      memcpy(lanes, &sums[o][v], sizeof(f32x16));
      for (int l = 0; l < 16; l++) dw[(size_t)(16 * v + l) * co + o] = lanes[l];
    }
}

// One tile of one tap over the task's chunk of pixels, tiles of 32 input channels by
// DIRECT_TILE_OUT_BY_INPUT output channels.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) static void
direct_item_by_input(void* context, size_t item) {
  const direct_task* k = context;
  const filter_grad* g = k->g;
  const size_t tiles = (size_t)k->in_tiles * k->out_tiles, tap = item / tiles;
  const uint32_t c0 = (uint32_t)(item % tiles / k->out_tiles) * 32;
  const uint32_t o0 = (uint32_t)(item % k->out_tiles) * DIRECT_TILE_OUT_BY_INPUT;
  const int nv = g->ci - c0 >= 32 ? 2 : 1;
  const int on = (int)(g->co - o0 < DIRECT_TILE_OUT_BY_INPUT ? g->co - o0 : DIRECT_TILE_OUT_BY_INPUT);
  const float* x = g->x + c0;
  const int32_t* offsets = k->offsets + tap * k->count;
  const float* dy = g->dy + k->m0 * g->co + o0;
  float* dw = g->dw + (tap * g->ci + c0) * g->co + o0;
#define DIRECT_CASE(n)                                                   \
  case n:                                                                \
    if (nv == 2)                                                         \
      direct_tile_by_input(x, offsets, dy, k->count, g->co, dw, 2, n);   \
    else                                                                 \
      direct_tile_by_input(x, offsets, dy, k->count, g->co, dw, 1, n);   \
    break;
  switch (on) {
    DIRECT_CASE(1) DIRECT_CASE(2) DIRECT_CASE(3) DIRECT_CASE(4)
    DIRECT_CASE(5) DIRECT_CASE(6) DIRECT_CASE(7) DIRECT_CASE(8)
  }
#undef DIRECT_CASE
}

// How the direct formulation tiles the filter gradient.
enum direct_tiling {
  DIRECT_BY_OUTPUT,  // direct_item over x in place
  DIRECT_BY_INPUT,   // direct_item_by_input over x in place (input channels a multiple of 16)
  // direct_item over each chunk's patches [kh, kw, ci] copied into one row a pixel (im2col of
  // 256 pixels), for fewer than 8 input channels: a tile's 12 rows then span several taps, where
  // in place they would hold the ci < 8 channels of one.
  DIRECT_PATCHES,
};

// The direct formulation, tiled as `by` says. Sets *what on failure.
static enum xnn_status filter_grad_direct(const filter_grad* g, enum direct_tiling by, const char** what) {
  const size_t taps = (size_t)g->kh * g->kw, pixels = (size_t)g->batch * g->oh * g->ow;
  const size_t patch = taps * g->ci;
  int32_t* offsets = malloc((by == DIRECT_PATCHES ? 1 : taps) * DIRECT_CHUNK * sizeof(int32_t));
  float* cols = by == DIRECT_PATCHES ? malloc(DIRECT_CHUNK * patch * sizeof(float)) : NULL;
  if (offsets == NULL || (by == DIRECT_PATCHES && cols == NULL)) {
    free(offsets);
    free(cols);
    *what = "allocating the filter-gradient buffers";
    return xnn_status_out_of_memory;
  }
  memset(g->dw, 0, patch * g->co * sizeof(float));
  // The patches are a 1×1 convolution's input of `patch` channels.
  filter_grad rows = *g;
  rows.x = cols;
  rows.ci = (uint32_t)patch;
  rows.kh = rows.kw = 1;
  const filter_grad* read = by == DIRECT_PATCHES ? &rows : g;
  const size_t read_taps = by == DIRECT_PATCHES ? 1 : taps;
  direct_task task = by == DIRECT_BY_INPUT
                         ? (direct_task){read, offsets, 0, 0, (read->ci + 31) / 32,
                                         (read->co + DIRECT_TILE_OUT_BY_INPUT - 1) / DIRECT_TILE_OUT_BY_INPUT}
                         : (direct_task){read, offsets, 0, 0, (read->ci + DIRECT_TILE_IN - 1) / DIRECT_TILE_IN,
                                         (read->co + 31) / 32};
  for (size_t m0 = 0; m0 < pixels; m0 += DIRECT_CHUNK) {
    const size_t count = pixels - m0 < DIRECT_CHUNK ? pixels - m0 : DIRECT_CHUNK;
    if (by == DIRECT_PATCHES) {
      im2col_task im2col = {g, cols, m0};
      pthreadpool_parallelize_1d(pool, im2col_row, &im2col, count, LOOP_FLAGS);
      for (size_t k = 0; k < count; k++) offsets[k] = (int32_t)(k * patch);
    } else {
      for (size_t k = 0; k < count; k++) {
        const size_t m = m0 + k, b = m / ((size_t)g->oh * g->ow), i = m / g->ow % g->oh, j = m % g->ow;
        for (uint32_t y = 0; y < g->kh; y++)
          for (uint32_t t = 0; t < g->kw; t++)
            offsets[((size_t)y * g->kw + t) * count + k] = (int32_t)tap_input(g, b, i, j, y, t);
      }
    }
    task.m0 = m0;
    task.count = count;
    pthreadpool_parallelize_1d(pool, by == DIRECT_BY_INPUT ? direct_item_by_input : direct_item, &task,
                               read_taps * task.in_tiles * task.out_tiles, LOOP_FLAGS);
  }
  free(offsets);
  free(cols);
  return xnn_status_success;
}

// dW[y, t, c, m] = Σ over output pixels of x[input pixel under tap (y, t), c] · dy[pixel, c·M + m]
// for a depthwise convolution with the multiplier M = g->co.
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) static void
depthwise_filter_grad(const filter_grad* g) {
  const size_t channels = (size_t)g->ci * g->co;
  memset(g->dw, 0, (size_t)g->kh * g->kw * channels * sizeof(float));
  for (uint32_t b = 0; b < g->batch; b++)
    for (uint32_t i = 0; i < g->oh; i++)
      for (uint32_t j = 0; j < g->ow; j++) {
        const float* d = g->dy + (((size_t)b * g->oh + i) * g->ow + j) * channels;
        for (uint32_t y = 0; y < g->kh; y++)
          for (uint32_t t = 0; t < g->kw; t++) {
            const int64_t from = tap_input(g, b, i, j, y, t);
            if (from < 0) continue;
            const float* xs = g->x + from;
            float* acc = g->dw + ((size_t)y * g->kw + t) * channels;
            for (uint32_t k = 0; k < g->ci; k++)
              for (uint32_t m = 0; m < g->co; m++) acc[(size_t)k * g->co + m] += xs[k] * d[(size_t)k * g->co + m];
          }
      }
}

// Reads the arguments of convBackpropFilter and depthwiseBackpropFilter (heap, xOffset,
// dyOffset, dwOffset, batch, height, width, ci, oh, ow, co, kh, kw, strideH, strideW, padTop,
// padLeft) into *g, dy having co·ci channels where depthwise (co: the multiplier), else co; 0
// (with an exception pending) on failure.
static int read_filter_grad(napi_env env, napi_callback_info info, int depthwise, filter_grad* g) {
  napi_value args[17];
  uint32_t n[17];
  if (!read_args(env, info, 17, args, n, 1)) return 0;
  size_t heap_bytes;
  float* heap = heap_floats(env, args[0], &heap_bytes);
  if (heap == NULL) return 0;
  *g = (filter_grad){NULL, NULL, NULL, n[4], n[5], n[6], n[7], n[8], n[9], n[10], n[11], n[12], n[13], n[14], n[15], n[16]};
  const size_t dy_channels = depthwise ? (size_t)g->ci * g->co : g->co;
  g->x = region(env, heap, heap_bytes, n[1], (size_t)g->batch * g->h * g->w * g->ci);
  g->dy = g->x == NULL ? NULL : region(env, heap, heap_bytes, n[2], (size_t)g->batch * g->oh * g->ow * dy_channels);
  g->dw = g->dy == NULL ? NULL : region(env, heap, heap_bytes, n[3], (size_t)g->kh * g->kw * g->ci * g->co);
  return g->dw != NULL;
}

// depthwiseBackpropFilter(heap, xOffset, dyOffset, dwOffset, batch, height, width, ci, oh, ow,
//                         multiplier, kh, kw, strideH, strideW, padTop, padLeft): dW
//                         [kh, kw, ci, multiplier] of a depthwise convolution; whether dW is
//                         finite.
static napi_value depthwise_backprop_filter(napi_env env, napi_callback_info info) {
  filter_grad g;
  if (!read_filter_grad(env, info, 1, &g)) return NULL;
  depthwise_filter_grad(&g);
  return boolean(env, finite_floats(g.dw, (size_t)g.kh * g.kw * g.ci * g.co));
}

// convBackpropFilter(heap, xOffset, dyOffset, dwOffset, batch, height, width, ci, oh, ow, co,
//                    kh, kw, strideH, strideW, padTop, padLeft): dW[kh, kw, ci, co]; whether dW
//                    is finite.
static napi_value conv_backprop_filter(napi_env env, napi_callback_info info) {
  filter_grad g;
  if (!read_filter_grad(env, info, 0, &g)) return NULL;
  const size_t patch = (size_t)g.kh * g.kw * g.ci;
  if (g.batch == 0 || g.oh == 0 || g.ow == 0 || patch == 0 || g.co == 0) {
    memset(g.dw, 0, patch * g.co * sizeof(float));
    return boolean(env, 1);
  }
  const char* what = NULL;
  // The direct formulation, measured on one thread against the two XNNPACK ones, per filter
  // gradient in a step (the benchmark discriminator's batch-16 4×4/2 layers, quiet machine):
  // 64→128 12.7 ms against 15.4 (im2col), 128→256 11.4 against 16.7 (convolution), 8×8 256→1
  // (16 pixels) 0.42 against 5.0; summed over 8 demo steps, 182 ms against 300. In place, a tile
  // over 3 input channels reuses each dy load 3 times (4×4/2 3→16 over 8 demo steps: 28.4 ms
  // against XNNPACK's 22.1); over each chunk's copied patches, 12 times (14.0 ms; 3→64 of the
  // penalty D 2.1 ms a call against 3.7). Other output channel counts take the direct
  // formulation with its vectors along the input channels where those are a multiple of 16 (3×3
  // 16→3 over 32 images of 32×32, the demo generator's last layer: 2.3 ms a call against 5.4),
  // else XNNPACK unless the pixels are few.
  const int by_input = g.co % 16 != 0 && g.ci % 16 == 0;
  const int direct = g.co % 16 == 0 || by_input ||
                     (size_t)g.batch * g.oh * g.ow * g.kh * g.kw <= DIRECT_MAX_SCALAR_TAPS;
  const enum direct_tiling by = by_input ? DIRECT_BY_INPUT : g.ci < 8 ? DIRECT_PATCHES : DIRECT_BY_OUTPUT;
  const enum xnn_status status = direct ? filter_grad_direct(&g, by, &what)
                                 : patch <= MAX_IM2COL_PATCH && g.co >= MIN_IM2COL_OUT
                                     ? filter_grad_im2col(&g, &what)
                                     : filter_grad_conv(&g, &what);
  if (status != xnn_status_success) return throw_status(env, what, status);
  return boolean(env, finite_floats(g.dw, patch * g.co));
}

// Rows [r0, r0 + count) of a transposition: to[r, c] = from[c, r], `from` being [cols, rows].
typedef struct {
  const float* from;
  float* to;
  size_t rows, cols;
} transpose_matrix_task;

static void transpose_rows(void* context, size_t r0, size_t count) {
  const transpose_matrix_task* k = context;
  for (size_t c = 0; c < k->cols; c++)
    for (size_t r = r0; r < r0 + count; r++) k->to[r * k->cols + c] = k->from[c * k->rows + r];
}

// matMul(heap, aOffset, bOffset, yOffset, batchA, batchB, m, k, n, transposeA, transposeB,
//        hasBias, biasOffset): y[i] = op(a[i]) · op(b[i]) (+ bias[n]) for i < max(batchA, batchB),
// a batch of 1 broadcast; a[i] is [m, k] ([k, m] if transposeA is 1), b[i] [k, n] ([n, k] if
// transposeB is 1), y[i] [m, n]. Whether y is finite.
static napi_value mat_mul(napi_env env, napi_callback_info info) {
  napi_value args[13];
  uint32_t n[13];
  if (!read_args(env, info, 13, args, n, 1)) return NULL;
  size_t heap_bytes;
  float* heap = heap_floats(env, args[0], &heap_bytes);
  if (heap == NULL) return NULL;
  const size_t batch_a = n[4], batch_b = n[5], m = n[6], k = n[7], cols = n[8];
  const size_t batch = batch_a > batch_b ? batch_a : batch_b;
  const int transpose_a = n[9] != 0, transpose_b = n[10] != 0;
  if ((batch_a != batch && batch_a != 1) || (batch_b != batch && batch_b != 1) || m == 0 || k == 0 ||
      cols == 0) {
    napi_throw_range_error(env, NULL, "genloss native: matMul sizes do not fit");
    return NULL;
  }
  const float* a = region(env, heap, heap_bytes, n[1], batch_a * m * k);
  const float* b = a == NULL ? NULL : region(env, heap, heap_bytes, n[2], batch_b * k * cols);
  float* y = b == NULL ? NULL : region(env, heap, heap_bytes, n[3], batch * m * cols);
  if (y == NULL) return NULL;
  const float* bias = n[11] == 0 ? NULL : region(env, heap, heap_bytes, n[12], cols);
  if (n[11] != 0 && bias == NULL) return NULL;
  // XNNPACK packs [n, k] weights; packing [k, n] ones (XNN_FLAG_TRANSPOSE_WEIGHTS) made a
  // 16×32 · 32×16384 product 4× slower (rows 64 KiB apart share cache sets), so b is transposed
  // here.
  float* at = transpose_a ? malloc(m * k * sizeof(float)) : NULL;
  float* bt = transpose_b ? NULL : malloc(k * cols * sizeof(float));
  if ((transpose_a && at == NULL) || (!transpose_b && bt == NULL)) {
    free(at);
    free(bt);
    return throw_status(env, "allocating the transposed matrices", xnn_status_out_of_memory);
  }
  // With one b and untransposed a's, every a[i] is a block of rows of one product.
  const int one_product = batch_b == 1 && !transpose_a;
  const size_t products = one_product ? 1 : batch;
  xnn_operator_t op = NULL;
  enum xnn_status status = xnn_status_success;
  const char* what = "";
  for (size_t i = 0; status == xnn_status_success && i < products; i++) {
    if (op == NULL || batch_b != 1) {
      if (op != NULL) xnn_delete_operator(op);
      op = NULL;
      const float* bi = b + (batch_b == 1 ? 0 : i * k * cols);
      if (!transpose_b) {
        transpose_matrix_task transpose = {bi, bt, cols, k};
        pthreadpool_parallelize_1d_tile_1d(pool, transpose_rows, &transpose, cols, 16, LOOP_FLAGS);
        bi = bt;
      }
      what = "xnn_create_fully_connected_nc_f32 (matMul)";
      status = xnn_create_fully_connected_nc_f32(k, cols, k, cols, bi, bias, -INFINITY, INFINITY, OP_FLAGS, &op);
      if (status != xnn_status_success) break;
    }
    const float* ai = a + (batch_a == 1 ? 0 : i * m * k);
    if (transpose_a && (i == 0 || batch_a != 1)) {
      transpose_matrix_task transpose = {ai, at, m, k};
      pthreadpool_parallelize_1d_tile_1d(pool, transpose_rows, &transpose, m, 16, LOOP_FLAGS);
    }
    if (transpose_a) ai = at;
    what = "xnn_setup_fully_connected_nc_f32 (matMul)";
    status = xnn_setup_fully_connected_nc_f32(op, one_product ? batch_a * m : m, ai, y + i * m * cols, pool);
    if (status == xnn_status_success) {
      what = "xnn_run_operator (matMul)";
      status = xnn_run_operator(op, pool);
    }
  }
  if (op != NULL) xnn_delete_operator(op);
  free(at);
  free(bt);
  if (status != xnn_status_success) return throw_status(env, what, status);
  return boolean(env, finite_floats(y, batch * m * cols));
}

// The element-wise kernels of elementwise(): what a leaky-ReLU network's first- and second-order
// gradients run on its activations (TF.js's LeakyRelu gradient is where(x > 0, dy, alpha·dy), and
// the gradient of where() casts and negates its mask), which TF.js-wasm runs at 2–6 ns an element.
// Bool tensors are one byte an element, as in TF.js-wasm.
enum elementwise_kind {
  EW_LEAKY_RELU = 0,      // y = a > 0 ? a : scalar·a (float32)
  EW_GREATER_SCALAR = 1,  // y = a > scalar (bool)
  EW_GREATER = 2,         // y = a > b (bool)
  EW_SELECT = 3,          // y = a ? b : c (a bool, y, b, c float32)
  EW_BOOL_TO_FLOAT = 4,   // y = a ? 1 : 0 (a bool, y float32)
  EW_LOGICAL_NOT = 5,     // y = !a (bool)
};

__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) static void
elementwise_run(enum elementwise_kind kind, size_t n, void* restrict out, const void* restrict a,
                const void* restrict b, const void* restrict c, float scalar) {
  float* yf = out;
  uint8_t* yb = out;
  const float* af = a;
  const uint8_t* ab = a;
  const float* bf = b;
  const float* cf = c;
  switch (kind) {
    case EW_LEAKY_RELU:
      for (size_t i = 0; i < n; i++) yf[i] = af[i] > 0 ? af[i] : scalar * af[i];
      break;
    case EW_GREATER_SCALAR:
      for (size_t i = 0; i < n; i++) yb[i] = af[i] > scalar;
      break;
    case EW_GREATER:
      for (size_t i = 0; i < n; i++) yb[i] = af[i] > bf[i];
      break;
    case EW_SELECT:
      for (size_t i = 0; i < n; i++) yf[i] = ab[i] != 0 ? bf[i] : cf[i];
      break;
    case EW_BOOL_TO_FLOAT:
      for (size_t i = 0; i < n; i++) yf[i] = ab[i] != 0 ? 1.0f : 0.0f;
      break;
    case EW_LOGICAL_NOT:
      for (size_t i = 0; i < n; i++) yb[i] = ab[i] == 0;
      break;
  }
}

// The byte sizes of one element of y, a, b and c for each kind (0: not read).
static const uint8_t elementwise_bytes[6][4] = {
    {4, 4, 0, 0}, {1, 4, 0, 0}, {1, 4, 4, 0}, {4, 1, 4, 4}, {4, 1, 0, 0}, {1, 1, 0, 0},
};

// elementwise(heap, kind, n, yOffset, aOffset, bOffset, cOffset, scalar): one of the kernels of
// enum elementwise_kind over n elements; operands a kind does not read are ignored.
static napi_value elementwise(napi_env env, napi_callback_info info) {
  napi_value args[8];
  uint32_t n[8];
  if (!read_args(env, info, 8, args, n, 1)) return NULL;
  double scalar;
  if (napi_get_value_double(env, args[7], &scalar) != napi_ok || n[1] > EW_LOGICAL_NOT) {
    napi_throw_type_error(env, NULL, "genloss native: elementwise expects a kind and a number");
    return NULL;
  }
  size_t heap_bytes;
  float* heap = heap_floats(env, args[0], &heap_bytes);
  if (heap == NULL) return NULL;
  const size_t count = n[2];
  void* operands[4] = {NULL, NULL, NULL, NULL};
  for (int i = 0; i < 4; i++) {
    const size_t bytes = elementwise_bytes[n[1]][i];
    if (bytes == 0) continue;
    operands[i] = region_of(env, heap, heap_bytes, n[3 + i], count, bytes);
    if (operands[i] == NULL) return NULL;
  }
  elementwise_run((enum elementwise_kind)n[1], count, operands[0], operands[1], operands[2], operands[3],
                  (float)scalar);
  return NULL;
}

// y[c] = (Σ_r x[r, c]) / divisor, x [rows, cols].
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("O3"))) static void
sum_rows_run(const float* restrict x, float* restrict y, size_t rows, size_t cols, float divisor) {
  if (cols == 1) {
    // A whole tensor: sixteen running float sums, added into a double every 64 vectors (as
    // exact as a double-precision sum to float32 rounding; src/backends/wasm/reduce.ts sums the
    // same in double).
    double total = 0;
    size_t r = 0;
    while (r + 16 <= rows) {
      f32x16 sums = {0};
      for (size_t end = r + 16 * 64; r + 16 <= rows && r < end; r += 16) {
        f32x16 v;
        memcpy(&v, x + r, sizeof v);
        sums += v;
      }
      for (int l = 0; l < 16; l++) total += sums[l];
    }
    for (; r < rows; r++) total += x[r];
    y[0] = (float)(total / divisor);
    return;
  }
  for (size_t c = 0; c < cols; c++) y[c] = 0;
  for (size_t r = 0; r < rows; r++)
    for (size_t c = 0; c < cols; c++) y[c] += x[r * cols + c];
  if (divisor != 1)
    for (size_t c = 0; c < cols; c++) y[c] /= divisor;
}

// sumRows(heap, xOffset, yOffset, rows, cols, divisor): y[c] = (Σ_r x[r, c]) / divisor
// (float32): the sum (divisor 1) or mean (divisor rows) of a tensor over its leading axes (a
// bias's gradient, a minibatch standard deviation's group mean), or over all of them (cols 1).
static napi_value sum_rows(napi_env env, napi_callback_info info) {
  napi_value args[6];
  uint32_t n[6];
  if (!read_args(env, info, 6, args, n, 1)) return NULL;
  size_t heap_bytes;
  float* heap = heap_floats(env, args[0], &heap_bytes);
  if (heap == NULL) return NULL;
  const size_t rows = n[3], cols = n[4];
  const float* x = region(env, heap, heap_bytes, n[1], rows * cols);
  float* y = x == NULL ? NULL : region(env, heap, heap_bytes, n[2], cols);
  if (y == NULL) return NULL;
  sum_rows_run(x, y, rows, cols, (float)n[5]);
  return NULL;
}

// The binary cross-entropy of GAN losses on logits x with the label c, as src/backends/fused's
// GenlossGanLossSum and GenlossGanLossGrad compute it: Σ softplus(x) − c·x (softplus(x) =
// max(x, 0) + log1p(exp(−|x|))) and its gradient σ(x) − c. With AVX-512, sixteen at a time through
// glibc's vector expf and log1pf (libmvec, ≤ 4 ulp); else libm's, one at a time.
typedef int32_t i32x16 __attribute__((vector_size(64)));
f32x16 _ZGVeN16v_expf(f32x16);
f32x16 _ZGVeN16v_log1pf(f32x16);

// x's elements [0, n − n % 16): Σ softplus(x) − c·x, in float per block of 64 vectors and in
// double across blocks.
__attribute__((target("avx512f"))) static double bce_sum_vectors(const float* x, size_t n, float c) {
  double total = 0;
  const size_t vectors = n / 16;
  for (size_t v0 = 0; v0 < vectors; v0 += 64) {
    f32x16 sums = {0};
    for (size_t v = v0; v < vectors && v < v0 + 64; v++) {
      f32x16 xs;
      memcpy(&xs, x + 16 * v, sizeof xs);
      const f32x16 minus_abs = (f32x16)((i32x16)xs | INT32_MIN);
      const f32x16 positive = (f32x16)((i32x16)xs & (xs > 0));
      sums += positive + _ZGVeN16v_log1pf(_ZGVeN16v_expf(minus_abs)) - c * xs;
    }
    for (int l = 0; l < 16; l++) total += sums[l];
  }
  return total;
}

// out[i] = scale · (σ(x[i]) − c) for x's elements [0, n − n % 16).
__attribute__((target("avx512f"))) static void bce_grad_vectors(const float* x, float* out, size_t n, float c,
                                                                float scale) {
  const size_t vectors = n / 16;
  for (size_t v = 0; v < vectors; v++) {
    f32x16 xs;
    memcpy(&xs, x + 16 * v, sizeof xs);
    const f32x16 minus_abs = (f32x16)((i32x16)xs | INT32_MIN);
    const f32x16 e = _ZGVeN16v_expf(minus_abs);
    const f32x16 s = 1 / (1 + e);
    const i32x16 nonnegative = xs >= 0;
    const f32x16 sigmoid = (f32x16)(((i32x16)s & nonnegative) | ((i32x16)(e * s) & ~nonnegative));
    const f32x16 ys = scale * (sigmoid - c);
    memcpy(out + 16 * v, &ys, sizeof ys);
  }
}

static float sigmoid_scalar(float x) {
  const float e = expf(-fabsf(x)), s = 1 / (1 + e);
  return x >= 0 ? s : e * s;
}

// bceLoss(heap, grad, n, xOffset, outOffset, c, scale): with grad 0, returns scale · Σ
// softplus(x) − c·x over n floats; with grad 1, writes out = scale · (σ(x) − c) and returns
// nothing.
static napi_value bce_loss(napi_env env, napi_callback_info info) {
  napi_value args[7];
  uint32_t n[7];
  if (!read_args(env, info, 7, args, n, 1)) return NULL;
  double c, scale;
  if (napi_get_value_double(env, args[5], &c) != napi_ok || napi_get_value_double(env, args[6], &scale) != napi_ok) {
    napi_throw_type_error(env, NULL, "genloss native: bceLoss expects numbers");
    return NULL;
  }
  size_t heap_bytes;
  float* heap = heap_floats(env, args[0], &heap_bytes);
  if (heap == NULL) return NULL;
  const size_t count = n[2];
  const float* x = region(env, heap, heap_bytes, n[3], count);
  if (x == NULL) return NULL;
  const int avx512 = __builtin_cpu_supports("avx512f");
  const size_t vectors = avx512 ? count - count % 16 : 0;
  if (n[1] == 0) {
    double total = vectors > 0 ? bce_sum_vectors(x, vectors, (float)c) : 0;
    for (size_t i = vectors; i < count; i++)
      total += (x[i] > 0 ? x[i] : 0) + log1pf(expf(-fabsf(x[i]))) - (float)c * x[i];
    napi_value result;
    CHECK_NAPI(napi_create_double(env, total * scale, &result));
    return result;
  }
  float* out = region(env, heap, heap_bytes, n[4], count);
  if (out == NULL) return NULL;
  if (vectors > 0) bce_grad_vectors(x, out, vectors, (float)c, (float)scale);
  for (size_t i = vectors; i < count; i++) out[i] = (float)scale * (sigmoid_scalar(x[i]) - (float)c);
  return NULL;
}

// release(op): frees an operator's packed weights now rather than at garbage collection.
static napi_value release_op(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  void* data = NULL;
  CHECK_NAPI(napi_get_cb_info(env, info, &argc, &arg, NULL, NULL));
  if (argc != 1 || napi_get_value_external(env, arg, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "genloss native: release expects an operator");
    return NULL;
  }
  packed_op* p = data;
  if (p->op != NULL) xnn_delete_operator(p->op);
  p->op = NULL;
  return NULL;
}

static napi_value threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK_NAPI(napi_create_uint32(env, (uint32_t)pthreadpool_get_threads_count(pool), &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  enum xnn_status status = xnn_initialize(NULL);
  if (status != xnn_status_success) return throw_status(env, "xnn_initialize", status);
  if (pool == NULL) {
    // One thread unless GENLOSS_NATIVE_THREADS=n asks for more: with two threads on a machine
    // that other work keeps busy, each kernel waits for a descheduled worker (the matting config
    // at load 7-12: 0.17 steps/s with two threads, 0.88 with one; the values are identical).
    const char* threads_env = getenv("GENLOSS_NATIVE_THREADS");
    const long threads_wanted = threads_env == NULL ? 0 : strtol(threads_env, NULL, 10);
    pool = pthreadpool_create(threads_wanted > 0 ? (size_t)threads_wanted : 1);
  }
  if (pool == NULL) {
    napi_throw_error(env, NULL, "genloss native: could not create the thread pool");
    return NULL;
  }
  const napi_property_descriptor methods[] = {
      {"createConv", NULL, create_conv, NULL, NULL, NULL, napi_default, NULL},
      {"runConv", NULL, run_conv, NULL, NULL, NULL, napi_default, NULL},
      {"createDeconv", NULL, create_deconv, NULL, NULL, NULL, napi_default, NULL},
      {"runDeconv", NULL, run_deconv, NULL, NULL, NULL, napi_default, NULL},
      {"convBackpropFilter", NULL, conv_backprop_filter, NULL, NULL, NULL, napi_default, NULL},
      {"depthwiseBackpropFilter", NULL, depthwise_backprop_filter, NULL, NULL, NULL, napi_default, NULL},
      {"matMul", NULL, mat_mul, NULL, NULL, NULL, napi_default, NULL},
      {"elementwise", NULL, elementwise, NULL, NULL, NULL, napi_default, NULL},
      {"sumRows", NULL, sum_rows, NULL, NULL, NULL, napi_default, NULL},
      {"bceLoss", NULL, bce_loss, NULL, NULL, NULL, napi_default, NULL},
      {"release", NULL, release_op, NULL, NULL, NULL, napi_default, NULL},
      {"threads", NULL, threads, NULL, NULL, NULL, napi_default, NULL},
  };
  CHECK_NAPI(napi_define_properties(env, exports, sizeof methods / sizeof methods[0], methods));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
