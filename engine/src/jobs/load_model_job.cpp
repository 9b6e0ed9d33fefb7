#include "gqa/jobs.h"

#include "gqa/memory_model.h"

namespace gqa {

Expected<std::shared_ptr<const Model>> loadModelJob(const std::string& path, int64_t available_bytes,
                                                    JobControl* control) {
    auto step = [&] {
        if (control) ++control->done;
    };
    auto cancelled = [&] { return control && control->cancel.load(); };
    if (control) {
        control->done = 0;
        control->total = 2;  // config, fit; the loader's own steps are added once the depth is known
    }
    auto cfg = loadModelConfig(path);
    if (!cfg) return cfg.error();
    const bool gguf = path.size() > 5 && path.substr(path.size() - 5) == ".gguf";
    if (control) control->total = 2 + loadProgressSteps(cfg->n_layers, gguf);
    step();
    if (cancelled()) return makeError(ErrorCode::Cancelled, "cancelled");
    // The same memory model as every other fit answer; refused before a byte is mapped.
    auto weight_bytes = checkpointWeightBytes(path);
    if (!weight_bytes) return weight_bytes.error();
    if (available_bytes > 0 && weight_bytes.value() > available_bytes)
        return makeError(ErrorCode::OutOfMemory, path + ": the weights take " + formatBytes(weight_bytes.value()) +
                                                     " but only " + formatBytes(available_bytes) +
                                                     " are available; nothing was mapped");
    step();
    if (cancelled()) return makeError(ErrorCode::Cancelled, "cancelled");
    LoadOptions opt;
    opt.available_bytes = available_bytes;
    if (control) {
        opt.progress = &control->done;
        opt.cancel = &control->cancel;
    }
    auto model = loadModel(path, opt);
    if (!model) return model.error();
    if (control) control->done = control->total.load();
    return std::make_shared<const Model>(std::move(model).value());
}

}  // namespace gqa
