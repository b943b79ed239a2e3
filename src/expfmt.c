/* expfmt.c: being written */
#include "expfmt.h"
