/*
 * A shared object that reach_roots dlopens after the collector started: a
 * collected object whose only reference is one of its globals must survive.
 * One slot is in .bss (zero-initialised), one in .data (initialised).
 */
#include <stdint.h>

static void *bss_slot;
static uintptr_t data_slots[3] = {1, 0, 1};

void roots_dso_set_bss(void *p) { *(void *volatile *)&bss_slot = p; }
void *roots_dso_get_bss(void) { return *(void *volatile *)&bss_slot; }

void roots_dso_set_data(void *p) { *(volatile uintptr_t *)&data_slots[1] = (uintptr_t)p; }
void *roots_dso_get_data(void) { return (void *)*(volatile uintptr_t *)&data_slots[1]; }
