// LAPACKE over OpenBLAS. cblas.h is deliberately not included (clashes with GSL's).
#include <lapacke.h>
// Declared by hand: OpenBLAS's own header would bring cblas.h with it.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// Stops OpenBLAS's worker threads (started when the library loads; OpenBLAS restarts them
// only if asked for more than one thread again).
int blas_thread_shutdown_(void);
// BLAS level-3 routines used for patch Gram matrices and projections (Fortran ABI exported
// by OpenBLAS), declared here because cblas.h cannot be included (see above).
void dsyrk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
            const double *a, const int *lda, const double *beta, double *c, const int *ldc);
void dgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const double *alpha, const double *a, const int *lda, const double *b, const int *ldb,
            const double *beta, double *c, const int *ldc);
void zherk_(const char *uplo, const char *trans, const int *n, const int *k, const double *alpha,
            const void *a, const int *lda, const double *beta, void *c, const int *ldc);
void zgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const void *alpha, const void *a, const int *lda, const void *b, const int *ldb,
            const void *beta, void *c, const int *ldc);
