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
    val wrong = try {
        HearthStore.openVault(vault, "wrong".toCharArray()).close()
        false
    } catch (e: HearthIntegrityException) {
        // The message names the problem, never the passphrase.
        val m = e.message ?: ""
        m.contains("wrong key or passphrase") && !m.contains("\"wrong\"") && !m.contains(" wrong.")
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

    // A host key provider (a PKCS12 KeyStore here; the Android Keystore on a device).
    val ks = JcaKeyProvider("$dir/keys.p12", "ks-password".toCharArray())
    HearthStore.openWrapped("$dir/wrapped", "kapp", ks).use { s ->
        s.set("kapp::token", "wrapped-secret".toByteArray())
    }
    HearthStore.openWrapped("$dir/wrapped", "kapp", JcaKeyProvider("$dir/keys.p12", "ks-password".toCharArray())).use { s ->
        check("a wrapped-key vault reopens", s.get("kapp::token")!!.use { it.matches("wrapped-secret".toByteArray()) })
    }
    val otherProvider = try {
        HearthStore.openWrapped("$dir/wrapped", "kapp", JcaKeyProvider("$dir/other.p12", "x".toCharArray())).close()
        false
    } catch (e: HearthIntegrityException) {
        true
    }
    check("another keystore cannot unwrap it (HearthIntegrityException)", otherProvider)
    val wrappedFile = java.io.File("$dir/wrapped/kapp.key.wrapped").readBytes()
    check("only the wrapped key lies beside the vault (IV, ciphertext, tag)", wrappedFile.size == 12 + 32 + 16)

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
