// swift-tools-version:6.0
//
// brainseg — unattended brain-tumour segmentation service.
// Layout and dependency direction (C shims → Core → Plugins → Daemon → executable) follow
// ENGINEERING.md; the C targets are shims only (see PLATFORM-NOTES.md §1 for why each one is
// wrapped the way it is).
import PackageDescription

let package = Package(
    name: "brainseg",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "brainseg", targets: ["brainseg"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // libnifti2 ships no pkg-config file and its header includes <znzlib.h> with angle
        // brackets, so it is a regular C target whose include/ holds a forwarding header.
        // zlib is linked for the integrity-checked byte reader in cnifti.c.
        .target(
            name: "CNifti",
            linkerSettings: [.linkedLibrary("nifti2"), .linkedLibrary("znz"), .linkedLibrary("z")]
        ),
        .systemLibrary(
            name: "COpenBLAS", path: "Sources/COpenBLAS", pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .systemLibrary(
            name: "CSystemd", path: "Sources/CSystemd", pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        .systemLibrary(
            name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng",
            providers: [.apt(["libpng-dev"])]
        ),
        // renameat2 (exchange, no-replace), malloc_trim and the fatal-signal crash note: Linux
        // calls Swift's Glibc module does not expose, and code that must run in a signal handler.
        .target(name: "CPosix"),
        // oneDNN (libdnnl-dev, no pkg-config file) behind a C interface; C++ inside because
        // oneDNN's C++ API is a third of the C one's length. libgomp: its OpenMP runtime.
        .target(name: "CDNNL", linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        // The engine's 3D Winograd kernel (AVX-512 intrinsics, chosen at run time); plain C.
        .target(name: "CWinograd"),
        .target(name: "Core", dependencies: ["CNifti", "COpenBLAS", "CPNG", "CDNNL", "CWinograd"]),
        .target(name: "Plugins", dependencies: ["Core"]),
        .target(
            name: "Daemon",
            dependencies: [
                "Core", "Plugins", "CSystemd", "CPosix",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "brainseg",
            dependencies: [
                "Core", "Plugins", "Daemon", "CPosix",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(name: "TestSupport", dependencies: ["Core"], path: "Tests/TestSupport"),
        .testTarget(name: "CoreTests", dependencies: ["Core", "CNifti", "TestSupport"]),
        .testTarget(name: "PluginsTests", dependencies: ["Plugins", "TestSupport"]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "TestSupport"]),
        .testTarget(name: "brainsegTests", dependencies: ["Daemon", "CPosix", "TestSupport"]),
    ]
)
