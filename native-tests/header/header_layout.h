/* header_layout.h - the layout facts the header checks assert, shared by the C99, C11 and
 * C++11 translation units. PHN_LAYOUT_ASSERT(name, cond) is defined by the includer.
 * The offsets follow from the field order in phn_stats.h / phn_alloc.h under the natural
 * alignment of the fixed-width types; the Python (ctypes) and .NET mirrors use the same. */
#if !defined(_WIN32) && (defined(__x86_64__) || defined(__aarch64__) || defined(__LP64__))
PHN_LAYOUT_ASSERT(allocator_size, sizeof(phn_allocator) == 40);
PHN_LAYOUT_ASSERT(allocator_ctx, offsetof(phn_allocator, ctx) == 0);
PHN_LAYOUT_ASSERT(allocator_malloc, offsetof(phn_allocator, malloc) == 8);
PHN_LAYOUT_ASSERT(allocator_calloc, offsetof(phn_allocator, calloc) == 16);
PHN_LAYOUT_ASSERT(allocator_realloc, offsetof(phn_allocator, realloc) == 24);
PHN_LAYOUT_ASSERT(allocator_free, offsetof(phn_allocator, free) == 32);
PHN_LAYOUT_ASSERT(arena_allocator_size, sizeof(phn_arena_allocator) == 24);
PHN_LAYOUT_ASSERT(arena_allocator_alloc, offsetof(phn_arena_allocator, alloc) == 8);
PHN_LAYOUT_ASSERT(arena_allocator_free, offsetof(phn_arena_allocator, free) == 16);
#endif
PHN_LAYOUT_ASSERT(class_size, sizeof(phn_size_class_stats) == 40);
PHN_LAYOUT_ASSERT(class_block_size, offsetof(phn_size_class_stats, block_size) == 0);
PHN_LAYOUT_ASSERT(class_blocks_per_pool, offsetof(phn_size_class_stats, blocks_per_pool) == 4);
PHN_LAYOUT_ASSERT(class_pools, offsetof(phn_size_class_stats, pools) == 8);
PHN_LAYOUT_ASSERT(class_full_pools, offsetof(phn_size_class_stats, full_pools) == 16);
PHN_LAYOUT_ASSERT(class_blocks_in_use, offsetof(phn_size_class_stats, blocks_in_use) == 24);
PHN_LAYOUT_ASSERT(class_blocks_available, offsetof(phn_size_class_stats, blocks_available) == 32);
PHN_LAYOUT_ASSERT(stats_struct_size, offsetof(phn_stats, struct_size) == 0);
PHN_LAYOUT_ASSERT(stats_version, offsetof(phn_stats, version) == 4);
PHN_LAYOUT_ASSERT(stats_arenas_allocated_total, offsetof(phn_stats, arenas_allocated_total) == 8);
PHN_LAYOUT_ASSERT(stats_arenas_reclaimed, offsetof(phn_stats, arenas_reclaimed) == 16);
PHN_LAYOUT_ASSERT(stats_arenas_highwater, offsetof(phn_stats, arenas_highwater) == 24);
PHN_LAYOUT_ASSERT(stats_arenas_allocated_current, offsetof(phn_stats, arenas_allocated_current) == 32);
PHN_LAYOUT_ASSERT(stats_arena_size, offsetof(phn_stats, arena_size) == 40);
PHN_LAYOUT_ASSERT(stats_pool_size, offsetof(phn_stats, pool_size) == 48);
PHN_LAYOUT_ASSERT(stats_unused_pools, offsetof(phn_stats, unused_pools) == 56);
PHN_LAYOUT_ASSERT(stats_bytes_in_allocated_blocks, offsetof(phn_stats, bytes_in_allocated_blocks) == 64);
PHN_LAYOUT_ASSERT(stats_bytes_in_available_blocks, offsetof(phn_stats, bytes_in_available_blocks) == 72);
PHN_LAYOUT_ASSERT(stats_bytes_in_unused_pools, offsetof(phn_stats, bytes_in_unused_pools) == 80);
PHN_LAYOUT_ASSERT(stats_bytes_lost_to_pool_headers, offsetof(phn_stats, bytes_lost_to_pool_headers) == 88);
PHN_LAYOUT_ASSERT(stats_bytes_lost_to_quantization, offsetof(phn_stats, bytes_lost_to_quantization) == 96);
PHN_LAYOUT_ASSERT(stats_bytes_lost_to_arena_alignment, offsetof(phn_stats, bytes_lost_to_arena_alignment) == 104);
PHN_LAYOUT_ASSERT(stats_allocated_blocks, offsetof(phn_stats, allocated_blocks) == 112);
PHN_LAYOUT_ASSERT(stats_raw_allocated_blocks, offsetof(phn_stats, raw_allocated_blocks) == 120);
PHN_LAYOUT_ASSERT(stats_arena_map_mid_nodes, offsetof(phn_stats, arena_map_mid_nodes) == 128);
PHN_LAYOUT_ASSERT(stats_arena_map_bot_nodes, offsetof(phn_stats, arena_map_bot_nodes) == 136);
PHN_LAYOUT_ASSERT(stats_bytes_lost_to_arena_map_root, offsetof(phn_stats, bytes_lost_to_arena_map_root) == 144);
PHN_LAYOUT_ASSERT(stats_bytes_lost_to_arena_map_mid, offsetof(phn_stats, bytes_lost_to_arena_map_mid) == 152);
PHN_LAYOUT_ASSERT(stats_bytes_lost_to_arena_map_bot, offsetof(phn_stats, bytes_lost_to_arena_map_bot) == 160);
PHN_LAYOUT_ASSERT(stats_num_size_classes, offsetof(phn_stats, num_size_classes) == 168);
PHN_LAYOUT_ASSERT(stats_reserved, offsetof(phn_stats, reserved) == 172);
PHN_LAYOUT_ASSERT(stats_size_classes, offsetof(phn_stats, size_classes) == 176);
PHN_LAYOUT_ASSERT(stats_size, sizeof(phn_stats) == 176 + 32 * 40);
PHN_LAYOUT_ASSERT(constants, PHN_NB_SMALL_SIZE_CLASSES == 32 && PHN_SMALL_REQUEST_THRESHOLD == 512 &&
                  PHN_POOL_SIZE == 16384 && PHN_ARENA_SIZE == 1048576 && PHN_POOL_OVERHEAD == 48 &&
                  PHN_ALIGNMENT == 16 && PHN_MAX_POOLS_IN_ARENA == 64);
PHN_LAYOUT_ASSERT(domains, PHN_DOMAIN_RAW == 0 && PHN_DOMAIN_MEM == 1 && PHN_DOMAIN_OBJ == 2);
PHN_LAYOUT_ASSERT(version, PHN_VERSION == PHN_VERSION_MAJOR * 10000 + PHN_VERSION_MINOR * 100 + PHN_VERSION_PATCH);
PHN_LAYOUT_ASSERT(status_codes, PHN_OK == 0 && PHN_EINVAL < 0 && PHN_ENOMEM < 0 && PHN_ESTATE < 0 &&
                  PHN_EINTERNAL < 0 && PHN_ENOTSUP < 0 && PHN_ECORRUPT < 0);
