// header_cxx.cpp - <pyheapnative.h> compiles as C++11 (-std=c++11 -Wall -Wextra -Werror
// -pedantic), static_asserts the layout, and links: the extern "C" guards give C linkage.
#include <pyheapnative.h>

#include <cstddef>
#include <cstdio>
#include <type_traits>

#define PHN_LAYOUT_ASSERT(name, cond) static_assert(cond, #name)
#include "header_layout.h"

static_assert(std::is_standard_layout<phn_stats>::value, "phn_stats is standard-layout");
static_assert(std::is_trivially_copyable<phn_allocator>::value, "phn_allocator is trivially copyable");

extern "C" {
static void* PHN_CALL my_arena_alloc(void* ctx, size_t n) { (void)ctx; (void)n; return nullptr; }
static void PHN_CALL my_arena_free(void* ctx, void* p, size_t n) { (void)ctx; (void)p; (void)n; }
}

int main() {
    phn_arena_allocator mine = {nullptr, my_arena_alloc, my_arena_free};
    (void)mine;
    if (phn_version() != PHN_VERSION) return 1;
    phn_stats st{};
    st.struct_size = sizeof st;
    if (phn_get_stats(&st) != PHN_OK) return 2;
    void* p = phn_mem_malloc(100);
    if (!p) return 3;
    phn_mem_free(p);
    const char* name = phn_allocator_name();
    if (!name) return 4;
    std::printf("ok %s\n", name);
    return 0;
}
