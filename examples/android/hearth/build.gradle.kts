// The Hearth AAR: libhearth.so per ABI (src/main/jniLibs, from `cargo ndk`), the Kotlin
// layer shared with the JVM example, and the Android Keystore key provider.
plugins {
    id("com.android.library")
    kotlin("android")
}

android {
    namespace = "hearth"
    compileSdk = 35
    defaultConfig {
        minSdk = 24
        consumerProguardFiles("consumer-rules.pro")
    }
    sourceSets["main"].java.srcDirs("src/main/kotlin", "../../kotlin")
    sourceSets["main"].java.exclude("**/Main.kt")
}

dependencies {
    implementation("net.java.dev.jna:jna:5.13.0@aar")
}
