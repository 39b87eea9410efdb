// LAPACKE over OpenBLAS. cblas.h is deliberately not included (clashes with GSL's).
#include <lapacke.h>
// Declared by hand: OpenBLAS's own header would bring cblas.h with it.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
