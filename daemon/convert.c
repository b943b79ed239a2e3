/* convert.c: being written */
#include <stdio.h>
