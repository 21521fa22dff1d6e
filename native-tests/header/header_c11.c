/* header_c11.c - <pyheapnative.h> compiles as C11 with _Static_assert layout checks. */
#include <pyheapnative.h>

#include <stddef.h>

#define PHN_LAYOUT_ASSERT(name, cond) _Static_assert(cond, #name)
#include "header_layout.h"

int phn_header_c11_probe(void);
int phn_header_c11_probe(void) { return (int)sizeof(phn_stats); }
