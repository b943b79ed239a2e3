/* pipeline.c: being written */
#include "pipeline.h"
