#ifndef PCANCEL_CSQLITE_SHIM_H
#define PCANCEL_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
