#ifndef PCANCEL_CPROTOBUFC_SHIM_H
#define PCANCEL_CPROTOBUFC_SHIM_H
#include <protobuf-c/protobuf-c.h>
#endif
