import { SIGNATURE_HEADER } from '../../api/settings';
import { useT } from '../../i18n';
import { SecretOnce } from './SecretOnce';

/** A webhook's new signing secret, once, with how receivers use it. */
export function WebhookSecret({ secret, onClose }: { secret: string; onClose: () => void }) {
  const t = useT();
  return (
    <SecretOnce title={t('settings.webhooks.secretTitle')} secret={secret} warning={t('settings.secret.once')} onClose={onClose} testid="webhook-secret">
      <p className="small">{t('settings.webhooks.verifyHint', { header: SIGNATURE_HEADER })}</p>
      <pre className="settings-code small">{`${SIGNATURE_HEADER}: sha256=hex(HMAC-SHA256(body, secret))`}</pre>
    </SecretOnce>
  );
}
