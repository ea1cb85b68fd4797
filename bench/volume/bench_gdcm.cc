// bench_gdcm.cc - the volume benchmark's GDCM peer: gdcm::ImageReader per
// file (GetBuffer decompresses RLE, JPEG, JPEG-LS and JPEG 2000), slices
// sorted by the projection of the origin on the normal, one int16 HU
// volume (slope/intercept).  Files split between THREADS threads (argv[2],
// default 2).  Prints the same checksum as bench_nova.c.
#include <gdcmImage.h>
#include <gdcmImageReader.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <dirent.h>
#include <string>
#include <thread>
#include <vector>

struct Slice {
    double pos = 0, slope = 1, inter = 0;
    size_t plane = 0;
    bool is_signed = false;
    std::vector<char> pixels;
    bool ok = false;
};

static void load(const std::string &path, Slice &s)
{
    gdcm::ImageReader r;
    r.SetFileName(path.c_str());
    if (!r.Read())
        return;
    const gdcm::Image &img = r.GetImage();
    const double *o = img.GetOrigin();
    const double *c = img.GetDirectionCosines();
    double n[3] = {c[1] * c[5] - c[2] * c[4], c[2] * c[3] - c[0] * c[5],
                   c[0] * c[4] - c[1] * c[3]};
    s.pos = o[0] * n[0] + o[1] * n[1] + o[2] * n[2];
    s.slope = img.GetSlope();
    s.inter = img.GetIntercept();
    s.plane = (size_t)img.GetDimension(0) * img.GetDimension(1);
    s.is_signed = img.GetPixelFormat().GetPixelRepresentation() == 1;
    s.pixels.resize(img.GetBufferLength());
    if (!img.GetBuffer(s.pixels.data()) || s.pixels.size() < s.plane * 2)
        return;
    s.ok = true;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: bench_gdcm FOLDER [THREADS]\n");
        return 2;
    }
    int threads = argc > 2 ? std::atoi(argv[2]) : 2;
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::string> files;
    DIR *d = opendir(argv[1]);
    if (!d)
        return 1;
    while (dirent *e = readdir(d))
        if (e->d_name[0] != '.')
            files.push_back(std::string(argv[1]) + "/" + e->d_name);
    closedir(d);
    std::vector<Slice> slices(files.size());
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++)
        pool.emplace_back([&, t] {
            for (size_t i = t; i < files.size(); i += threads)
                load(files[i], slices[i]);
        });
    for (auto &th : pool)
        th.join();
    std::vector<Slice *> ok;
    for (auto &s : slices)
        if (s.ok)
            ok.push_back(&s);
    if (ok.empty())
        return 1;
    std::sort(ok.begin(), ok.end(),
              [](const Slice *a, const Slice *b) { return a->pos < b->pos; });
    size_t plane = ok[0]->plane;
    std::vector<int16_t> vol(plane * ok.size());
    for (size_t k = 0; k < ok.size(); k++) {
        const Slice *s = ok[k];
        const uint16_t *px = (const uint16_t *)s->pixels.data();
        int16_t *dst = vol.data() + k * plane;
        for (size_t i = 0; i < plane; i++) {
            double raw = s->is_signed ? (double)(int16_t)px[i] : (double)px[i];
            dst[i] = (int16_t)std::lrint(raw * s->slope + s->inter);
        }
    }
    auto t1 = std::chrono::steady_clock::now();
    long long sum = 0;
    for (size_t i = 0; i < vol.size(); i += 61)
        sum += vol[i] * (long long)(i % 7 + 1);
    std::printf("voxels %zu checksum %lld first %d total_s %.4f\n", vol.size(),
                sum, vol[0],
                std::chrono::duration<double>(t1 - t0).count());
    return 0;
}
