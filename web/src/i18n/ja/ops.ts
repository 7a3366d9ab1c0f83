import type en from '../en/ops';

const m: Record<keyof typeof en, string> = {
};

export default m;
