/* Placeholder: being written (issue 12). */
#include "mprof.h"
