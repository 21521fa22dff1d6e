/* header_c99.c - <pyheapnative.h> compiles as strict C99 (-std=c99 -pedantic -Wall -Wextra
 * -Werror) and links. C99 has no _Static_assert: the layout is checked with the
 * negative-array-size idiom. Run: prints "ok" and returns 0. */
#include <pyheapnative.h>
#include <pyheapnative.h> /* include guards */

#include <stddef.h>
#include <stdio.h>

#define PHN_LAYOUT_ASSERT(name, cond) typedef char phn_layout_##name[(cond) ? 1 : -1]
#include "header_layout.h"

static void* PHN_CALL my_malloc(void* ctx, size_t n) { (void)ctx; return phn_raw_malloc(n); }
static void* PHN_CALL my_calloc(void* ctx, size_t a, size_t b) { (void)ctx; return phn_raw_calloc(a, b); }
static void* PHN_CALL my_realloc(void* ctx, void* p, size_t n) { (void)ctx; return phn_raw_realloc(p, n); }
static void PHN_CALL my_free(void* ctx, void* p) { (void)ctx; phn_raw_free(p); }
static void PHN_CALL my_error(void* ctx, int32_t code, const char* msg) { (void)ctx; (void)code; (void)msg; }
static void PHN_CALL my_fatal(void* ctx, const char* msg) { (void)ctx; (void)msg; }

int main(void) {
    phn_allocator a = {NULL, my_malloc, my_calloc, my_realloc, my_free};
    phn_arena_allocator ar;
    phn_stats st;
    phn_error_handler eh = my_error;
    phn_fatal_handler fh = my_fatal;
    void* p;
    int32_t rc;
    (void)a;
    (void)eh;
    (void)fh;
    if (phn_version() != PHN_VERSION) return 1;
    rc = phn_get_arena_allocator(&ar);
    if (rc != PHN_OK) return 2;
    st.struct_size = (uint32_t)sizeof st;
    if (phn_get_stats(&st) != PHN_OK) return 3;
    p = phn_obj_malloc(10);
    if (!p) return 4;
    phn_obj_free(p);
    printf("ok\n");
    return 0;
}
