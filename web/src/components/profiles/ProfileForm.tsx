// The whole profile form of the editor: every member of the API's Profile.

import type { Profile } from '../../api/wizard';
import { ProfileFormProvider } from './fields';
import {
  AdvancedSection,
  AudioOptionFields,
  AudioSection,
  BasicSection,
  LadderSection,
  PackagingSection,
  Section,
  SubtitleFields,
  ThumbnailFields,
  VideoSection,
} from './sections';
import { setIn, type FieldErrors } from './validate';

export function ProfileForm({
  value,
  onChange,
  errors,
  readOnly,
  isNew,
}: {
  value: Profile;
  onChange: (p: Profile) => void;
  errors: FieldErrors;
  readOnly: boolean;
  isNew: boolean;
}) {
  return (
    <ProfileFormProvider
      value={value}
      set={(path, v) => onChange(setIn(value, path, v))}
      errors={errors}
      readOnly={readOnly}
      testPrefix="pf"
    >
      <BasicSection isNew={isNew} />
      <VideoSection />
      <AudioSection />
      <PackagingSection />
      <LadderSection full />
      <Section heading="profiles.s.thumbnails">
        <ThumbnailFields />
      </Section>
      <Section heading="profiles.s.subtitles">
        <SubtitleFields />
      </Section>
      <Section heading="profiles.s.audioOptions">
        <AudioOptionFields />
      </Section>
      <AdvancedSection />
    </ProfileFormProvider>
  );
}
