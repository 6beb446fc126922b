/* The option table (see options.c); internal. */
#ifndef GM_OPTIONS_H
#define GM_OPTIONS_H
#include <stddef.h>
typedef struct gm_option_desc {
    const char *name; /* environment variable */
    const char *def;  /* default, as the variable would spell it */
    const char *help;
} gm_option_desc;
extern const gm_option_desc gm__option_table[] __attribute__((visibility("hidden")));
extern const size_t gm__option_count __attribute__((visibility("hidden")));
#endif
