/* main.c: STUB, being written. */
#include <stdio.h>
int main(void) { puts("promflux"); return 0; }
