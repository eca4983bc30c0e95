// A round-robin balancer in C, built with the standard wasi-libc toolchain: it keeps its
// upstream set in malloc'd memory and reports set changes with printf (the gateway
// discards plugin stdout; use the host `log` import to reach the gateway's log).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "balancer_plugin.h"

static uint32_t *weights = NULL; // one entry per upstream in the current set
static size_t count = 0;
static uint32_t next = 0;

bool exports_switchyard_policy_balancer_init(balancer_plugin_string_t *config,
                                             exports_switchyard_policy_balancer_options_t *ret,
                                             balancer_plugin_string_t *err) {
  (void)err;
  // Arguments are owned by the plugin: free what is not kept.
  balancer_plugin_string_free(config);
  ret->loads = EXPORTS_SWITCHYARD_POLICY_BALANCER_LOAD_VIEW_SAMPLED;
  ret->headers.ptr = NULL;
  ret->headers.len = 0;
  return true;
}

void exports_switchyard_policy_balancer_set_upstreams(
    uint64_t generation, exports_switchyard_policy_balancer_list_upstream_t *upstreams) {
  uint32_t *fresh = calloc(upstreams->len ? upstreams->len : 1, sizeof *fresh);
  if (fresh == NULL) {
    abort(); // the host discards this instance and serves by the fallback
  }
  for (size_t i = 0; i < upstreams->len; i++) {
    fresh[i] = upstreams->ptr[i].weight;
  }
  free(weights);
  weights = fresh;
  count = upstreams->len;
  next = 0;
  printf("generation %llu: %zu upstreams\n", (unsigned long long)generation, count);
  exports_switchyard_policy_balancer_list_upstream_free(upstreams);
}

bool exports_switchyard_policy_balancer_pick(uint64_t *maybe_key_hash,
                                             balancer_plugin_list_option_string_t *maybe_headers,
                                             balancer_plugin_list_u32_t *maybe_loads,
                                             uint32_t *ret) {
  (void)maybe_key_hash;
  if (maybe_headers != NULL) {
    balancer_plugin_list_option_string_free(maybe_headers);
  }
  if (maybe_loads != NULL) {
    balancer_plugin_list_u32_free(maybe_loads);
  }
  if (count == 0) {
    return false; // none: the gateway answers 503
  }
  *ret = next % count;
  next = (next + 1) % count;
  return true;
}
