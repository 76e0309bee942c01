/*
 * wk_eng_none.c: linked instead of wk_eng_rt.c while the tree has no
 * runtime/rt_task.h (the model task layer); `--engine vulkan` then fails
 * with a clear message and `--engine test` still works.  See
 * worker/module.mk.
 */
#include "worker/wk.h"

int wk_eng_rt_init(struct wk_engine *eng, const char *selector, const char *models_dir,
                   int batch, struct err *e)
{
    (void)eng;
    (void)selector;
    (void)models_dir;
    (void)batch;
    return err_set(e, WK_ERR, 0, "no_engine",
                   "cannot run models: vkv-worker was built without the Vulkan engine "
                   "(runtime/rt_task.h missing at build time)");
}
