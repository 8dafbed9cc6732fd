// A KeyProvider whose key is an AES-256 key in AndroidKeyStore: Hearth's vault key is
// wrapped (AES-GCM) by it and can only be unwrapped on this device, by this app, and —
// with requireUserAuth — within authValiditySeconds of the user authenticating (device
// credential or strong biometric). Compiled only in the Android module (examples/android);
// not built on the JVM test machine.
package hearth

import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.UserNotAuthenticatedException
import java.security.KeyStore
import java.security.UnrecoverableKeyException
import javax.crypto.Cipher
import javax.crypto.IllegalBlockSizeException
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec

/**
 * With `requireUserAuth`, opening the store before the user authenticated fails with
 * [HearthBusyException]: show `BiometricPrompt` (allowing the device credential) or
 * `KeyguardManager.createConfirmDeviceCredentialIntent`, then open again within
 * `authValiditySeconds`. If the key was invalidated (the screen lock was removed, or
 * biometrics re-enrolled) or deleted, the open fails with [HearthIntegrityException]: the
 * vault cannot be read any more; delete `dir/APP` and sign in afresh (the next wrap makes
 * a new key). A keystore that fails otherwise (a binder error) is a [HearthException]
 * with status ERROR: retry, and do not delete anything.
 *
 * The key is created under a lock and re-checked inside it, so two first opens in this
 * process cannot make two keys under one alias (one of them would lose its vault). Use
 * one alias per vault, and open a vault from one process.
 */
class AndroidKeystoreProvider(
    private val alias: String = "hearth-vault-key",
    private val requireUserAuth: Boolean = false,
    private val authValiditySeconds: Int = 30
) : KeyProvider {
    init {
        require(authValiditySeconds > 0) { "authValiditySeconds must be positive" }
    }

    private companion object {
        /** Serialises looking up, creating and deleting keys. */
        val keys = Any()
    }

    private fun keyStore(): KeyStore = KeyStore.getInstance("AndroidKeyStore").apply { load(null) }

    /**
     * The key under `alias`, for an unwrap: a missing one, or one the keystore cannot load
     * any more (keystore2 reports an invalidated key so, at lookup), is invalidated.
     */
    private fun existingKey(): SecretKey = synchronized(keys) {
        val entry = try {
            keyStore().getEntry(alias, null) as? KeyStore.SecretKeyEntry
        } catch (e: UnrecoverableKeyException) {
            throw KeyProviderInvalidatedException("the keystore cannot load the key any more", e)
        }
        entry?.secretKey ?: throw KeyProviderInvalidatedException("the keystore holds no key under the alias")
    }

    /** A new key under `alias` (call with `keys` held). */
    private fun newKey(): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
        if (requireUserAuth) {
            spec.setUserAuthenticationRequired(true)
            if (Build.VERSION.SDK_INT >= 30) {
                spec.setUserAuthenticationParameters(
                    authValiditySeconds,
                    KeyProperties.AUTH_DEVICE_CREDENTIAL or KeyProperties.AUTH_BIOMETRIC_STRONG
                )
            } else {
                @Suppress("DEPRECATION")
                spec.setUserAuthenticationValidityDurationSeconds(authValiditySeconds)
            }
        }
        val gen = KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, "AndroidKeyStore")
        gen.init(spec.build())
        gen.generateKey()
    }

    /** Runs `init` on a fresh cipher; a key awaiting authentication is "locked". */
    private fun cipher(init: (Cipher) -> Unit): Cipher {
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
        try {
            init(cipher)
        } catch (e: UserNotAuthenticatedException) {
            throw KeyProviderLockedException("the user has not authenticated recently", e)
        } catch (e: KeyPermanentlyInvalidatedException) {
            throw KeyProviderInvalidatedException("the keystore key was invalidated", e)
        }
        return cipher
    }

    override fun wrap(key: ByteArray): ByteArray {
        // A wrap makes a new vault. Looking the key up, replacing one that can no longer be
        // used (invalidated before this vault existed: whatever it wrapped is lost already)
        // and starting the cipher are one step under the lock, so that no other thread's
        // fresh key is deleted in between. The keystore draws the IV; it is stored in
        // front of the ciphertext.
        val cipher = synchronized(keys) {
            val current = try {
                (keyStore().getEntry(alias, null) as? KeyStore.SecretKeyEntry)?.secretKey
            } catch (e: UnrecoverableKeyException) {
                null
            }
            val usable = current?.let { k ->
                try {
                    cipher { it.init(Cipher.ENCRYPT_MODE, k) }
                } catch (e: KeyProviderInvalidatedException) {
                    null
                }
            }
            usable ?: run {
                keyStore().deleteEntry(alias)
                val fresh = newKey()
                cipher { it.init(Cipher.ENCRYPT_MODE, fresh) }
            }
        }
        return cipher.iv + cipher.doFinal(key)
    }

    override fun unwrap(wrapped: ByteArray): ByteArray {
        require(wrapped.size > 12) { "not a wrapped key" }
        val cipher = cipher { it.init(Cipher.DECRYPT_MODE, existingKey(), GCMParameterSpec(128, wrapped, 0, 12)) }
        try {
            return cipher.doFinal(wrapped, 12, wrapped.size - 12)
        } catch (e: IllegalBlockSizeException) {
            // Android's keystore raises this for every failure at finish but a bad tag:
            // what it means is in its cause.
            var cause: Throwable? = e.cause
            while (cause != null) {
                if (cause is UserNotAuthenticatedException) {
                    throw KeyProviderLockedException("the user has not authenticated recently", e)
                }
                if (cause is KeyPermanentlyInvalidatedException) {
                    throw KeyProviderInvalidatedException("the keystore key was invalidated", e)
                }
                cause = cause.cause
            }
            throw e // a keystore failure: retryable, says nothing about the vault
        }
    }
}
