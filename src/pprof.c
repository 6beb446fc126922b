/* Placeholder: being written (issue 12). */
#include "internal.h"
