/* SPDX-License-Identifier: Apache-2.0 */
/* rbdspec POOL/VOL: print what pool_volume_rbd() and pool_volume_resolve()
 * give for a volume, one "key=value" a line (conf, id, pool, image, snap,
 * target), for the pool-rbd test. Exit 0, or 1 with the reason on stderr. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "storage/pool.h"

int main(int argc, char **argv)
{
    struct sl_err err = ERR_INIT;
    struct pool_vol_rbd v;
    char *target = NULL;
    int r;

    if (argc != 2) {
        fprintf(stderr, "usage: rbdspec POOL/VOL\n");
        return 2;
    }
    r = pool_volume_rbd(argv[1], &v, &err);
    if (r == 0)
        r = pool_volume_resolve(argv[1], &target, &err);
    if (r < 0) {
        fprintf(stderr, "rbdspec: %s: %s\n", argv[1], err_isset(&err) ? err.msg : pool_strerror(r));
        return 1;
    }
    printf("conf=%s\nid=%s\npool=%s\nimage=%s\nsnap=%s\ntarget=%s\n", v.conf, v.id, v.pool,
           v.image, v.snap, target);
    free(target);
    return 0;
}
