// The Kotlin example, run by the test suite (ffi/tests/kotlin.rs): stores, reads back,
// lists and clears secrets in a vault through the C ABI, checks the RFC 7636 vector, and
// exits non-zero on the first failure. Usage: Main SCRATCH_DIR
@file:Suppress("DEPRECATION") // checks the String-based Pkce.challenge against RFC 7636

import hearth.HearthIntegrityException
import hearth.HearthStore
import hearth.JcaKeyProvider
import hearth.Pkce
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicInteger

var failures = 0

fun check(name: String, ok: Boolean) {
    println((if (ok) "ok - " else "not ok - ") + name)
    if (!ok) failures++
}

fun main(args: Array<String>) {
    val dir = args[0]
    println("# " + Pkce.version())
    check(
        "RFC 7636 appendix B challenge",
        Pkce.challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk") == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    )
    val bad = try {
        Pkce.challenge("short")
        false
    } catch (e: IllegalArgumentException) {
        true
    }
    check("a malformed verifier is IllegalArgumentException", bad)

    val passphrase = "correct horse battery staple".toCharArray()
    val vault = "$dir/vault/vault.hearth"
    HearthStore.openVault(vault, passphrase.copyOf()).use { store ->
        val token = "jf-access-token".toByteArray()
        store.set("jellytau::srv1::access_token", token)
        store.set("jellytau::srv1::refresh_token", byteArrayOf(1, 0, 2))
        store.get("jellytau::srv1::access_token")!!.use { secret ->
            check("read back", secret.matches(token))
            val copy = ByteArray(secret.size)
            secret.copyInto(copy)
            check("copyInto", copy.contentEquals(token))
            copy.fill(0)
        }
        store.get("jellytau::srv1::refresh_token")!!.use { secret ->
            check("binary value with a NUL", secret.matches(byteArrayOf(1, 0, 2)))
        }
        check("missing key is null", store.get("jellytau::srv1::nope") == null)
        check(
            "list",
            store.list("jellytau::srv1") == listOf("jellytau::srv1::access_token", "jellytau::srv1::refresh_token")
        )
        check("delete", store.delete("jellytau::srv1::refresh_token"))
        check("delete again", !store.delete("jellytau::srv1::refresh_token"))
        check("clear (logout)", store.clear("jellytau") == 1L)
        check("empty after clear", store.list("jellytau").isEmpty())
        store.set("jellytau::kept", "v".toByteArray())
        val badKey = try {
            store.set("no-namespace", "x".toByteArray())
            false
        } catch (e: IllegalArgumentException) {
            true
        }
        check("a bad key is IllegalArgumentException", badKey)
    }
    val wrongPassphrase = "Xq7-distinct-passphrase"
    val wrong = try {
        HearthStore.openVault(vault, wrongPassphrase.toCharArray()).close()
        false
    } catch (e: HearthIntegrityException) {
        // The message names the problem, never the passphrase (nor a part of it).
        val m = e.message ?: ""
        m.contains("wrong key or passphrase") && !m.contains(wrongPassphrase) && !m.contains("distinct")
    }
    check("a wrong passphrase is HearthIntegrityException", wrong)
    HearthStore.openVault(vault, passphrase).use { store ->
        check("reopened: nothing lost", store.get("jellytau::kept")!!.use { it.matches("v".toByteArray()) })
    }
    check("the passphrase array was wiped", passphrase.all { it == '\u0000' })
    val nul = "pass\u0000word".toCharArray()
    val nulRefused = try {
        HearthStore.openVault("$dir/nul/v.hearth", nul).close()
        false
    } catch (e: IllegalArgumentException) {
        true
    }
    check("a passphrase holding U+0000 is refused, and wiped", nulRefused && nul.all { it == '\u0000' })

    // What a caller forgets to close is cleaned once the collector finds it unreachable.
    val cleaned = AtomicBoolean(false)
    hearth.Lib.cleaner.register(Any(), Runnable { cleaned.set(true) })
    val until = System.nanoTime() + 30_000_000_000L
    while (!cleaned.get() && System.nanoTime() < until) {
        System.gc()
        Thread.sleep(10)
    }
    check("a forgotten object's cleanup runs after it is collected", cleaned.get())

    // A forgotten store, secret and verifier are each freed (and the secrets wiped) by
    // their own cleanup once collected.
    val ranBefore = hearth.Lib.cleaner.ran.get()
    forgetOne(dir)
    val forgotten = System.nanoTime() + 30_000_000_000L
    while (hearth.Lib.cleaner.ran.get() < ranBefore + 3 && System.nanoTime() < forgotten) {
        System.gc()
        Thread.sleep(10)
    }
    check("a forgotten store, secret and verifier are freed after collection", hearth.Lib.cleaner.ran.get() >= ranBefore + 3)

    // 8 threads calling while another closes the store: no crash; calls after close throw.
    // The store is closed only once every thread has made a call, and every thread stops
    // only on the IllegalStateException of a closed store: the close overlaps the calls.
    val store = HearthStore.openVaultWithKeyFile("$dir/vault2/v.hearth", "$dir/vault2/v.key")
    store.set("race::k", "v".toByteArray())
    val crashed = AtomicInteger(0)
    val sawClose = AtomicInteger(0)
    val started = CountDownLatch(8)
    val threads = (0 until 8).map {
        Thread {
            val deadline = System.nanoTime() + 60_000_000_000L
            var first = true
            while (System.nanoTime() < deadline) {
                try {
                    store.get("race::k")?.close()
                    store.list("race")
                } catch (e: IllegalStateException) {
                    sawClose.incrementAndGet()
                    break
                } catch (e: Throwable) {
                    crashed.incrementAndGet()
                    break
                } finally {
                    if (first) started.countDown()
                    first = false
                }
            }
        }
    }
    threads.forEach { it.start() }
    check("every thread made a call before the close", started.await(60, TimeUnit.SECONDS))
    store.close()
    threads.forEach { it.join(60_000) }
    check("no call failed otherwise while the store closed", crashed.get() == 0)
    check("every thread was calling when the store closed", sawClose.get() == 8)
    val thrown = try {
        store.get("race::k")
        false
    } catch (e: IllegalStateException) {
        true
    }
    check("a call after close throws IllegalStateException", thrown)

    // A host key provider (a PKCS12 KeyStore here, kept away from the vault's directory;
    // the Android Keystore on a device). The recorder keeps the vault key it was asked to
    // wrap, to look for it on disk.
    val ksPath = "$dir/keystore/keys.p12"
    val ks = Recording(JcaKeyProvider(ksPath, "ks-password".toCharArray()))
    HearthStore.openWrapped("$dir/wrapped", "kapp", ks).use { s ->
        s.set("kapp::token", "wrapped-secret".toByteArray())
    }
    val perms = java.nio.file.Files.getPosixFilePermissions(java.nio.file.Paths.get(ksPath))
    check("the keystore file is 0600", java.nio.file.attribute.PosixFilePermissions.toString(perms) == "rw-------")
    HearthStore.openWrapped("$dir/wrapped", "kapp", JcaKeyProvider(ksPath, "ks-password".toCharArray())).use { s ->
        check("a wrapped-key vault reopens", s.get("kapp::token")!!.use { it.matches("wrapped-secret".toByteArray()) })
    }
    val otherProvider = try {
        HearthStore.openWrapped("$dir/wrapped", "kapp", JcaKeyProvider("$dir/keystore/other.p12", "x".toCharArray())).close()
        false
    } catch (e: HearthIntegrityException) {
        true
    }
    check("another keystore cannot unwrap it (HearthIntegrityException)", otherProvider)
    val failing = try {
        HearthStore.openWrapped("$dir/wrapped", "kapp", Failing()).close()
        false
    } catch (e: HearthIntegrityException) {
        false
    } catch (e: hearth.HearthException) {
        e.status == hearth.Status.ERROR
    }
    check("a keystore that does not answer is a retryable ERROR, not integrity", failing)
    val appDir = java.io.File("$dir/wrapped/kapp")
    val wrappedFile = java.io.File(appDir, "key.wrapped").readBytes()
    check(
        "the wrapped key file: magic, check value, then IV, ciphertext, tag",
        wrappedFile.size == 4 + 32 + 12 + 32 + 16
    )
    val key = ks.key
    val holders = appDir.listFiles()!!.filter { f ->
        val bytes = f.readBytes()
        key != null && (0..key.size - 8).any { k ->
            val w = key.copyOfRange(k, k + 8)
            (0..bytes.size - 8).any { i -> bytes.copyOfRange(i, i + 8).contentEquals(w) }
        }
    }
    check("no file beside the vault holds 8 bytes of its key", key != null && holders.isEmpty() && appDir.listFiles()!!.size >= 2)
    key?.fill(0)

    // A verifier kept in native memory.
    Pkce.generate().use { v ->
        val buf = ByteArray(128)
        val n = v.copyInto(buf)
        check("a generated verifier is 43 characters", n == 43)
        check("its challenge is 43 characters", v.challenge.length == 43)
        buf.fill(0)
    }
    println("# failures: $failures")
    if (failures > 0) System.exit(1)
}

/** Opens a store, reads a secret and makes a verifier, and closes none of them. */
fun forgetOne(dir: String) {
    val store = HearthStore.openVaultWithKeyFile("$dir/forgotten/v.hearth", "$dir/forgotten/v.key")
    store.set("forgotten::k", "v".toByteArray())
    store.get("forgotten::k")
    Pkce.generate()
}

/** A provider that keeps a copy of the key it wraps (a test's probe, never for real use). */
class Recording(private val inner: hearth.KeyProvider) : hearth.KeyProvider {
    var key: ByteArray? = null
    override fun wrap(key: ByteArray): ByteArray {
        this.key = key.copyOf()
        return inner.wrap(key)
    }
    override fun unwrap(wrapped: ByteArray): ByteArray = inner.unwrap(wrapped)
}

/** A provider whose keystore never answers. */
class Failing : hearth.KeyProvider {
    override fun wrap(key: ByteArray): ByteArray = throw java.security.KeyStoreException("no answer")
    override fun unwrap(wrapped: ByteArray): ByteArray = throw java.security.KeyStoreException("no answer")
}
