// bench_dcmtk.cc - the DICOM decode benchmark's DCMTK peer: load each file
// with DcmFileFormat and decompress its pixel data to explicit VR little
// endian in process (DCMTK's RLE, IJG-based JPEG and JPEG-LS decoders),
// files split between THREADS std::threads (static split, like the Nova
// side's pool), RUNS times; prints the median wall time, CPU time per run and a checksum of
// all samples.  Usage: bench_dcmtk FOLDER THREADS RUNS
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <dirent.h>
#include <sys/resource.h>
#include <string>
#include <thread>
#include <vector>

static uint64_t decode_one(const std::string &path, std::atomic<int> &fails)
{
    DcmFileFormat ff;
    if (ff.loadFile(path.c_str()).bad()) {
        fails++;
        return 0;
    }
    DcmDataset *ds = ff.getDataset();
    if (ds->chooseRepresentation(EXS_LittleEndianExplicit, nullptr).bad()) {
        fails++;
        return 0;
    }
    const Uint16 *px = nullptr;
    unsigned long count = 0;
    if (ds->findAndGetUint16Array(DCM_PixelData, px, &count).bad()) {
        fails++;
        return 0;
    }
    uint64_t sum = 0;
    for (unsigned long i = 0; i < count; i++)
        sum += px[i];
    return sum;
}

// User + system CPU seconds of the whole process so far.
static double cpu_seconds()
{
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
           ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        std::fprintf(stderr, "usage: bench_dcmtk FOLDER THREADS RUNS\n");
        return 2;
    }
    int threads = std::atoi(argv[2]), runs = std::atoi(argv[3]);
    DcmRLEDecoderRegistration::registerCodecs();
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    std::vector<std::string> files;
    DIR *d = opendir(argv[1]);
    if (!d)
        return 1;
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.')
            files.push_back(std::string(argv[1]) + "/" + e->d_name);
    closedir(d);
    std::sort(files.begin(), files.end());
    std::vector<uint64_t> sums(files.size());
    std::vector<double> times;
    std::atomic<int> fails{0};
    double cpu0 = cpu_seconds();
    for (int r = 0; r < runs; r++) {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; t++)
            pool.emplace_back([&, t] {
                for (size_t i = t; i < files.size(); i += threads)
                    sums[i] = decode_one(files[i], fails);
            });
        for (auto &th : pool)
            th.join();
        times.push_back(std::chrono::duration<double>(
                            std::chrono::steady_clock::now() - t0)
                            .count());
    }
    double cpu = (cpu_seconds() - cpu0) / runs;
    std::sort(times.begin(), times.end());
    uint64_t total = 0;
    for (uint64_t s : sums)
        total += s;
    std::printf("dcmtk files=%zu threads=%d median_s=%.4f cpu_s=%.4f "
                "checksum=%llu "
                "failures=%d\n",
                files.size(), threads, times[times.size() / 2], cpu,
                (unsigned long long)total, fails.load());
    return fails.load() ? 1 : 0;
}
