#ifndef PCANCEL_CMALLOC_SHIM_H
#define PCANCEL_CMALLOC_SHIM_H
// glibc's allocator controls (mallopt, malloc_trim): the server fixes when memory goes back to the system.
#include <malloc.h>
#endif
